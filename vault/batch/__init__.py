"""Batches: one hash tree, one seal and one RFC 3161 token per group of items, chained."""
