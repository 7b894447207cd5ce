"""The SQL index: what the vault holds, where, and in which batch (SQLAlchemy 2 + Alembic)."""
