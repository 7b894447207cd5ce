"""Deposits: stream, hash, encrypt, store WORM, index, acknowledge with a signed receipt."""
