"""Key material: the development PKI, certificate loading and the key-encryption key."""
