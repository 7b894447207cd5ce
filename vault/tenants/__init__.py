"""Tenants: the customer organisations whose evidence the vault keeps apart."""
