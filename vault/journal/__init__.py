"""The vault's own journal: every operation, sealed and timestamped like evidence."""
