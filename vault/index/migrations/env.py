"""Alembic environment: the connection is handed in by vault.index.db.migrate()."""

from alembic import context

from vault.index.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` CLI use: read the URL from alembic.ini / -x url=
    from sqlalchemy import create_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(str(url))
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
