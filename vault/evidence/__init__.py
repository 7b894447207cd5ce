"""What an item of evidence is: kinds, purposes, identifiers and the sealed item manifest."""
