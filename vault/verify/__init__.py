"""Verification: a list of named checks in spec order; the report is data."""
