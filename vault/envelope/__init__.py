"""Encryption at rest: chunked AES-256-GCM streams and per-subject data keys wrapped by the KEK."""
