"""Retention rules: pure date arithmetic over purposes and tenant contracts."""
