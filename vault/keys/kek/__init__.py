"""Key-encryption keys by epoch, kept outside the index: a PKCS#11 token or a folder of files."""
