"""Engine, schema migrations and the sealing lock of the index; its rows read as untrusted input.

The index is not evidence. A value read from it may have been rewritten, with another SQL type
(SQLite keeps any type in any column; a PostgreSQL column can be altered), set to NULL, or be
unreadable; ``checked_row`` and ``checked_rows`` say which column of which row, so that a
checker reports a failed check instead of failing on a ``TypeError``. Errors of the database
itself (down, refusing, unknown database) become one short line: ``index_error``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, TypeDecorator, column, create_engine, event, select, table, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from vault.errors import ConfigError, IndexDown, IndexError_, IndexTampered
from vault.index.models import Base

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for the index; SQLite gets WAL and a busy timeout so readers never block."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
                # a TEXT value that is not UTF-8 (a blob cast to text) must come back as a value to
                # check, not abort the whole query (sqlite3's default decoding raises)
                dbapi_conn.text_factory = _lenient_text
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    except (SQLAlchemyError, ImportError, ValueError) as e:
        raise ConfigError("cannot use database_url", detail=f"{url}: {e}") from e


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


# -- errors of the database: one short line ---------------------------------------------------

_NOISE = re.compile(r"^(\(\S+\)\s*)?(connection failed:\s*)?", re.IGNORECASE)


def short_cause(e: BaseException, url: str | None = None) -> str:
    """The database's own reason, on one line, without the driver's and SQLAlchemy's wrapping
    (``connection refused``, ``password authentication failed for user "x"``, ``database "x"
    does not exist``, ``unable to open database file``...), and where, when known."""
    orig = getattr(e, "orig", None) or e
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("(Background on this error")]
    if not lines:
        return type(orig).__name__
    first = _NOISE.sub("", lines[0])
    # psycopg: 'connection to server at "127.0.0.1", port 1 failed: Connection refused'
    head, sep, cause = first.rpartition(" failed: ")
    where = url or ""
    if sep and head.startswith("connection to server"):
        first, where = cause, head.removeprefix("connection to server ").strip()
        at = re.fullmatch(r'at "([^"]+)", port (\d+)', where)
        where = f"{at[1]}:{at[2]}" if at else where
    first = re.sub(r"^(FATAL|ERROR):\s*", "", first).strip()
    if first[:2] != first[:2].upper():  # "Connection refused", not "SSL ..."
        first = first[:1].lower() + first[1:]
    return f"{first} ({where})" if where else first


def index_error(e: BaseException, url: str | None = None) -> IndexError_ | None:
    """``e`` as the vault's one-line index error, or None when it is not the database's."""
    if not isinstance(e, SQLAlchemyError):
        return None
    cause = short_cause(e, url)
    if isinstance(e, OperationalError | InterfaceError | DisconnectionError) or (
        isinstance(e, DBAPIError) and e.connection_invalidated
    ):
        return IndexDown(f"the index does not answer: {cause}")
    return IndexError_(f"the index refused the operation: {cause}")


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def ping(engine: Engine) -> None:
    """Open one connection: :class:`IndexDown` naming the cause when the index does not answer."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as e:
        raise index_error(e, _where(engine)) or IndexDown("the index does not answer") from None


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (``vault init``, ``vault up``, tests)."""
    ping(engine)  # a database that does not answer is not a failed migration
    cfg = _alembic_config(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as e:
        down = index_error(e, _where(engine))
        if isinstance(down, IndexDown):
            raise down from None
        raise IndexError_("schema migration failed", detail=short_cause(e, _where(engine))) from None


@functools.cache
def _head_revision() -> str | None:
    """The newest migration of this code (read once per process: every command checks it)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def check_schema(engine: Engine) -> None:
    """Refuse to run on an index older (or newer) than this code."""
    head = _head_revision()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as e:
        raise index_error(e, _where(engine)) or IndexDown("the index does not answer") from None
    if current != head:
        raise IndexError_(
            "the index schema is not current",
            detail=f"at {current or 'nothing'}, code expects {head}; run `vault init`",
        )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def seal_lock(engine: Engine, lock_dir: Path) -> Iterator[None]:
    """One sealer at a time per chain: the batch chain is a sequence; two sealers must never
    both extend the same head."""
    with index_lock(engine, lock_dir, "seal"):
        yield


@contextlib.contextmanager
def index_lock(engine: Engine, lock_dir: Path, name: str) -> Iterator[None]:
    """One holder at a time of ``name`` across every process of this vault: a PostgreSQL
    advisory lock, or a file lock beside a SQLite index."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            # one lock per schema: two vaults in one database do not block each other
            key = conn.execute(
                text("SELECT hashtext(:name || ':' || current_schema())"), {"name": f"vault-{name}"}
            ).scalar_one()
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# -- rows as untrusted input -------------------------------------------------------------------

M = TypeVar("M", bound=Base)

#: what converting a stored value to its declared type raises on a retyped or garbled value
CONVERSION_ERRORS = (ArithmeticError, AttributeError, LookupError, TypeError, ValueError)


def _expected_type(col: Column[Any]) -> type:
    t = col.type
    if isinstance(t, TypeDecorator):
        t = t.impl_instance
    return t.python_type


def _type_name(value: object) -> str:
    return {bytes: "bytes", str: "text", int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


_WANT = {bytes: "bytes", str: "text", int: "an integer", dt.datetime: "a date-time", dt.date: "a date"}


def value_problem(table_name: str, col: Column[Any], value: object) -> str | None:
    """Why ``value`` is not what the vault writes in ``col`` (type, NULL, length), or None."""
    name = f"{table_name}.{col.name}"
    if value is None:
        return None if col.nullable else f"{name} is NULL"
    want = _expected_type(col)
    if want is bytes:
        ok = isinstance(value, bytes | bytearray | memoryview)
    elif want is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif want is dt.date:
        ok = isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    elif want is dt.datetime:
        ok = isinstance(value, dt.datetime) and value.tzinfo is not None
    else:
        ok = isinstance(value, want)
    if not ok:
        return f"{name} is not {_WANT.get(want, want.__name__)} (it is {_type_name(value)})"
    length = getattr(col.type, "length", None)
    if isinstance(value, str) and length is not None and len(value) > length:
        return f"{name} is longer than {length} characters"
    return None


def _columns(model: type[M]) -> Sequence[Column[Any]]:
    return list(model.__table__.columns)  # type: ignore[attr-defined, arg-type]


def _table_name(model: type[M]) -> str:
    return str(model.__tablename__)


def row_problems(obj: Base) -> list[str]:
    """Every column of a loaded row whose value is not of its declared type (or NULL where
    a value belongs)."""
    name = _table_name(type(obj))
    found = (value_problem(name, col, getattr(obj, col.key)) for col in _columns(type(obj)))
    return [p for p in found if p]


def _convert(col: Column[Any], dialect: Dialect, value: object) -> tuple[object, str | None]:
    proc = col.type.dialect_impl(dialect).result_processor(dialect, None)
    if proc is None or value is None:
        return value, None
    try:
        return proc(value), None
    except CONVERSION_ERRORS as e:
        what = _WANT.get(_expected_type(col), "its type")
        return None, f"{col.table.name}.{col.name} is unreadable as {what} ({_type_name(value)}: {e})"


def _raw_rows(
    s: Session, model: type[M], where: dict[str, Any], order_by: str | None
) -> list[tuple[dict[str, object], list[str]]]:
    """Rows read without the ORM's conversions (a value it cannot convert would abort the whole
    query), then converted column by column, naming each that fails."""
    cols = _columns(model)
    raw = table(_table_name(model), *[column(c.name) for c in cols])
    q = select(*raw.c).where(*[raw.c[k] == v for k, v in where.items()])
    if order_by is not None:
        q = q.order_by(raw.c[order_by])
    dialect = s.get_bind().dialect
    out = []
    for r in s.execute(q).all():
        values: dict[str, object] = {}
        problems: list[str] = []
        for col, value in zip(cols, r, strict=True):
            values[col.key], problem = _convert(col, dialect, value)
            if problem is None:
                problem = value_problem(_table_name(model), col, values[col.key])
            if problem:
                problems.append(problem)
        out.append((values, problems))
    return out


def checked_rows(
    s: Session, model: type[M], *, where: dict[str, Any] | None = None, order_by: str | None = None
) -> list[tuple[M, list[str]]]:
    """Rows of ``model`` (equality filters ``where``), each with the list of its columns whose
    value is not of the declared type. A row whose values the ORM cannot even convert comes back
    as a detached copy, its unreadable values as None, each named in its problems."""
    where = where or {}
    q = select(model).where(*[getattr(model, k) == v for k, v in where.items()])
    if order_by is not None:
        q = q.order_by(getattr(model, order_by))
    try:
        try:
            rows = list(s.scalars(q).all())
        except CONVERSION_ERRORS:  # (no rollback: it would expire what the caller loaded before)
            return [(model(**values), problems) for values, problems in _raw_rows(s, model, where, order_by)]
    except (ProgrammingError, DataError) as e:
        raise altered_schema(e, _table_name(model)) from None
    return [(row, row_problems(row)) for row in rows]


def altered_schema(e: DBAPIError, table: str | None = None) -> IndexTampered:
    """A query the vault's own schema answers, refused by the database: a column was altered
    (PostgreSQL's ``ALTER COLUMN ... TYPE``), or a value no longer fits what the query says."""
    where = f"the {table} table" if table else "the index"
    return IndexTampered(f"{where} cannot be read as the vault wrote it", detail=short_cause(e))


def checked_row(s: Session, model: type[M], *, check: str = "index_record", **where: Any) -> M | None:
    """The first row of ``model`` matching ``where``, every value of its declared type, or
    :class:`IndexTampered` naming the columns that are not (None when there is no such row)."""
    rows = checked_rows(s, model, where=where)
    if not rows:
        return None
    row, problems = rows[0]
    if problems:
        key = ", ".join(f"{k} {v!r}" for k, v in where.items())
        raise IndexTampered(
            "; ".join(problems),
            detail=f"the {_table_name(model)} row of {key} is not what the vault wrote",
            check=check,
        )
    return row
