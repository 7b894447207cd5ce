"""Object storage: the S3 client side of the vault and an embedded SeaweedFS for development."""
