"""Evidence vault: hash, seal, RFC 3161-timestamp and store evidence under WORM retention."""

__version__ = "0.1.0"
