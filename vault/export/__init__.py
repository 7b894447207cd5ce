"""Litigation exports: a minimal-disclosure bundle a court's expert verifies offline (docs/export.md)."""
