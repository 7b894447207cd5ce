"""Device keys and the client statements they sign (docs/decisions/0013)."""
