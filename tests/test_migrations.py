"""The migrations build exactly the schema the models describe (tables, columns, indexes),
on SQLite and on PostgreSQL: a model change without its migration fails here."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from vault.index.db import migrate
from vault.index.models import Base


def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        migrate(engine)
        with engine.connect() as c:
            diff = compare_metadata(MigrationContext.configure(c, opts={"compare_type": False}), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
