"""Signed checkpoints of the batch log: an RFC 6962 tree whose leaf i is batch i + 1's
``batch.json``, C2SP signed notes, and inclusion and consistency proofs (docs/long-term.md)."""
