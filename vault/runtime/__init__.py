"""Running the vault: `vault init` (home, keys, schema) and `vault up` (embedded components)."""
