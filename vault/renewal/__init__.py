"""Archive-timestamp renewal (RFC 4998 section 5): proofs that outlive their certificates (docs/long-term.md)."""
