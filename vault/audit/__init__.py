"""The completeness audit: the index checked against the sealed chain in WORM storage."""
