"""The index is untrusted input: a fuzz of every column of ``items``, ``segments``, ``batches``
and ``journal``, rewritten directly in SQL on a sealed vault.

Each column gets every mutation the backend allows: retyped (SQLite: the same bytes as
TEXT/BLOB, or an integer; PostgreSQL: ``ALTER COLUMN ... TYPE`` in the test's own schema),
changed in place (same type), set to NULL, filled where it was NULL, set to JSON nested
100 000 deep (the JSON columns), and the row deleted. Foreign keys are off while mutating,
as an insider's would be. After each, the checkers run: ``verify_item`` on the items the row
concerns, ``verify_journal``, and the CLI verb in-process (``vault verify``, ``vault journal
verify``). The answer must always be a verdict:

- evidence columns: every changed row's checker says *invalid*, naming the failed check;
- columns that are decisions, not evidence (``DECISIONS``, each with its reason): a changed
  value leaves every verdict as it was; only another SQL type (the type is part of what was
  written) or NULL where a value belongs is invalid;
- never an exception, never exit 2.

Between mutations the index is restored: SQLite through its backup API, PostgreSQL by
truncating and refilling the four tables from copies (and altering a retyped column back).
"""

# ruff: noqa: S608  (the SQL here is built from the models' own table and column names: the test
# tampers with its own index, as an insider with SQL access would)
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import typer.testing
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from conftest import write_config
from vault.batch.sealer import seal_pending
from vault.cli import app
from vault.config import Settings
from vault.context import VaultContext
from vault.index.models import Batch, Item, JournalEntry, Segment
from vault.journal.verify import JournalReport, verify_journal
from vault.privacy.erasure import erase_subject
from vault.verify.online import verify_item
from vault.verify.report import Report
from vault_support import put_file, rec

Col = Any  # a table column (sqlalchemy's Column; its stubs type table.c[...] more loosely)
MODELS = {"items": Item, "segments": Segment, "batches": Batch, "journal": JournalEntry}
KEYS = {"items": "seq", "segments": "id", "batches": "seq", "journal": "seq"}  # stable row identity

#: columns that are decisions or accelerators, not evidence: a changed value changes no verdict
DECISIONS: dict[str, dict[str, str]] = {
    "items": {
        "seq": "the row's number in the index, never sealed",
        "retain_until": "a retention decision (contract changes extend it), not a fact of the deposit",
        "archive_until": "a retention decision (set before the archive happens)",
        "storage_tier": "where the archive keeps the bytes, a storage decision",
        "corrects": "a pointer from a correction to its original, read by the rectification view only",
        "deposited_by": "an access-control fact; the sealed journal entry of the deposit is the evidence",
    },
    "segments": {
        "size": "the segment object's total size, a statistic: each record's own range is sealed in its pin",
        "retain_until": "a retention decision",
        "deleted_at": "set when retention deletes the object; the items' disposal and sealed records say so",
    },
    "batches": {
        "tsa_url": "which TSA answered: the token names its signer, checked against the configured anchors",
        "tsa_chain": "a copy for proof folders: online verification trusts the configured TSA anchors, "
        "offline verification pins its own (--tsa-ca)",
    },
    "journal": {
        "seq": "the entry's position in the index; the sealed body carries its id, time and content",
    },
}
#: JSON columns, also set to JSON nested 100 000 deep
JSON_COLUMNS = {
    "items": {"evidence", "receipt", "path"},
    "segments": {"receipt"},
    "batches": {"manifest", "versions"},
    "journal": {"body", "path"},
}
#: (table, column, mutation) after which the row of OLD_ID is gone: the service layer
#: (vault/service/items.py, verify) still verifies it for a platform principal, from the sealed
#: journal's deposit entry that names it, and reports it invalid (exit 1)
SERVICE_NOT_FOUND = {("items", "id", m) for m in ("retype", "change", "null", "delete")}
DEEP = b"[" * 100_000 + b"]" * 100_000


@dataclass
class Vault:
    ctx: VaultContext
    settings: Settings
    f1: str  # a file, batch 1
    r1: str  # a packed record, batch 1
    e1: str  # a file whose subject was erased (crypto-shredded), batch 1
    f2: str  # a file in batch 2 (its chain runs through batch 1)
    seqs: dict[str, int] = field(default_factory=dict)
    baseline: dict[str, str] = field(default_factory=dict)


def build(ctx: VaultContext, settings: Settings) -> Vault:
    f1 = put_file(ctx, "alice", b"intervention report, signed", meta={"ip": "192.0.2.1"})
    r1 = rec(ctx, "bob", {"ip": "192.0.2.7", "port": 443})
    e1 = put_file(ctx, "carol", b"session log of carol")
    seal_pending(ctx)
    assert erase_subject(ctx, "acme", "carol").erased == [e1]
    f2 = put_file(ctx, "alice", b"a second log")
    seal_pending(ctx)
    v = Vault(ctx, settings, f1, r1, e1, f2)
    with ctx.engine.connect() as c:
        v.seqs = dict(c.execute(text("SELECT id, seq FROM items")).all())  # type: ignore[arg-type]
    for item in (f1, r1, e1, f2):
        v.baseline[item] = verify_item(ctx, item).status
    assert v.baseline == {f1: "valid", r1: "valid", e1: "destroyed", f2: "valid"}
    assert verify_journal(ctx).ok
    return v


# -- backends: mutate with foreign keys off, snapshot and restore -------------------------------


class Backend:
    name = ""
    retypes: tuple[str, ...] = ("retype",)
    dirty = False  # whether the index differs from the snapshot

    def __init__(self, v: Vault) -> None:
        self.v = v

    def run(self, table: str, col: Col, mutation: str, where: str) -> str | None:
        """Apply ``mutation``; a reason when the database refuses it."""
        raise NotImplementedError

    def fingerprint(self, table: str, column: str, where: str) -> dict[object, str]:
        raise NotImplementedError

    def set(self, table: str, column: str, value: object, where: str) -> None:
        """Write ``value`` as the vault would (its own type), foreign keys off."""
        raise NotImplementedError

    def restore(self) -> None:
        raise NotImplementedError


def kind_of(col: Col) -> str:
    t = col.type
    impl = getattr(t, "impl_instance", t)
    py = impl.python_type
    return {bytes: "bytes", int: "int", str: "str"}.get(py, "datetime" if py.__name__ == "datetime" else "date")


def is_text_blob(table: str, col: Col) -> bool:
    """A TEXT column holding JSON or PEM (changed by a digit, so it stays parseable)."""
    return kind_of(col) == "str" and getattr(col.type, "length", None) is None


class SQLite(Backend):
    name = "sqlite"
    retypes = ("retype", "retype-int")

    def __init__(self, v: Vault) -> None:
        super().__init__(v)
        self.path = v.settings.database_url.removeprefix("sqlite:///")
        self.snapshot = sqlite3.connect(":memory:")
        with sqlite3.connect(self.path) as live:
            live.backup(self.snapshot)

    def _conn(self) -> sqlite3.Connection:
        c = sqlite3.connect(self.path, isolation_level=None)
        c.execute("PRAGMA foreign_keys=OFF")
        return c

    def run(self, table: str, col: Col, mutation: str, where: str) -> str | None:
        c, k = f'"{col.name}"', kind_of(col)
        first_2 = f"substr({c}, 1, instr({c}, '2') - 1) || '3' || substr({c}, instr({c}, '2') + 1)"
        sql, params = {
            "retype": (f"UPDATE {table} SET {c} = CAST({c} AS {'TEXT' if k == 'bytes' else 'BLOB'}) WHERE {where}", ()),
            "retype-int": (f"UPDATE {table} SET {c} = 12345 WHERE {where} AND {c} IS NOT NULL", ()),
            "change": (
                f"UPDATE {table} SET {c} = "
                + {
                    "int": f"{c} + 1000",
                    "bytes": f"CAST({first_2} AS BLOB)",
                    "str": first_2 if is_text_blob(table, col) else f"'Z' || substr({c}, 2)",
                    "datetime": first_2,
                    "date": first_2,
                }[k]
                + f" WHERE {where}",
                (),
            ),
            "null": (f"UPDATE {table} SET {c} = NULL WHERE {where}", ()),
            "fill": (f"UPDATE {table} SET {c} = ? WHERE {where} AND {c} IS NULL", (_fill_value(k),)),
            "deep": (f"UPDATE {table} SET {c} = ? WHERE {where}", (DEEP if k == "bytes" else DEEP.decode(),)),
            "delete": (f"DELETE FROM {table} WHERE {where}", ()),
        }[mutation]
        conn = self._conn()
        try:
            before = self._types(conn, table, c, where) if mutation.startswith("retype") else None  # c is quoted
            conn.execute(sql, params)
            self.dirty = True
            if before is not None and self._types(conn, table, c, where) == before:
                self.restore()
                return "SQLite's column affinity stores it back as the same type"
        except sqlite3.DatabaseError as e:
            return f"refused by SQLite: {e}"
        finally:
            conn.close()
        return None

    def set(self, table: str, column: str, value: object, where: str) -> None:
        conn = self._conn()
        try:
            conn.execute(f'UPDATE {table} SET "{column}" = ? WHERE {where}', (value,))
            self.dirty = True
        finally:
            conn.close()

    @staticmethod
    def _types(conn: sqlite3.Connection, table: str, c: str, where: str) -> list[str]:
        return [r[0] for r in conn.execute(f"SELECT typeof({c}) FROM {table} WHERE {where}")]

    def fingerprint(self, table: str, name: str, where: str) -> dict[object, str]:
        column = f'"{name}"'
        conn = self._conn()
        try:
            if name == KEYS[table]:  # the key itself: the column over the whole table
                q = f"SELECT group_concat(typeof({column}) || ':' || hex({column}), ',') FROM {table}"
                return {"*": conn.execute(q).fetchone()[0]}
            q = f"SELECT {KEYS[table]}, typeof({column}) || ':' || hex({column}) FROM {table} WHERE {where}"
            return dict(conn.execute(q).fetchall())
        finally:
            conn.close()

    def restore(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        live = sqlite3.connect(self.path)
        try:
            self.snapshot.backup(live)
        finally:
            live.close()


def _fill_value(kind: str) -> object:
    return {"int": 7, "bytes": b"Z", "str": "Zz", "datetime": "2030-01-01 00:00:00.000000", "date": "2030-01-01"}[kind]


class Postgres(Backend):
    name = "postgresql"
    PG_TYPES: ClassVar[dict[str, str]] = {
        "bytes": "text",
        "str": "bytea",
        "int": "text",
        "datetime": "text",
        "date": "text",
    }

    def __init__(self, v: Vault) -> None:
        super().__init__(v)
        self.engine = v.ctx.engine
        self.altered: list[tuple[str, str, str, bool]] = []  # table, column, type, not null
        self.touched: set[str] = set()
        with self.engine.begin() as c:
            for t in MODELS:
                c.execute(text(f"DROP TABLE IF EXISTS bk_{t}"))
                c.execute(text(f"CREATE TABLE bk_{t} AS SELECT * FROM {t}"))

    def _type(self, c: Connection, table: str, column: str) -> tuple[str, bool]:
        row = c.execute(
            text(
                "SELECT format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
                "WHERE a.attrelid = CAST(:t AS regclass) AND a.attname = :c"
            ),
            {"t": table, "c": column},
        ).one()
        return str(row[0]), bool(row[1])

    def run(self, table: str, col: Col, mutation: str, where: str) -> str | None:
        c, k = f'"{col.name}"', kind_of(col)
        altered: list[tuple[str, str, str, bool]] = []
        try:
            with self.engine.begin() as conn:
                conn.execute(text("SET LOCAL session_replication_role = replica"))  # foreign keys off
                conn.execute(text("SET LOCAL synchronous_commit = off"))
                original, not_null = self._type(conn, table, col.name)
                if mutation == "retype":
                    self._retype(conn, table, col.name, k)
                    altered.append((table, col.name, original, not_null))
                elif mutation == "null":
                    if not_null:
                        conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {c} DROP NOT NULL"))
                        altered.append((table, col.name, original, not_null))
                    conn.execute(text(f"UPDATE {table} SET {c} = NULL WHERE {where}"))
                elif mutation == "change":
                    expr = {
                        "int": f"{c} + 1000",
                        "bytes": f"overlay({c} placing '\\x33'::bytea from greatest(position('\\x32'::bytea in {c}), 1) "
                        "for 1)",
                        "str": f"regexp_replace({c}, '2', '3')"
                        if is_text_blob(table, col)
                        else f"'Z' || substr({c}, 2)",
                        "datetime": f"{c} + interval '1 day'",
                        "date": f"{c} + 1",
                    }[k]
                    conn.execute(text(f"UPDATE {table} SET {c} = {expr} WHERE {where}"))
                elif mutation == "fill":
                    value = {"datetime": "2030-01-01T00:00:00", "date": "2030-01-01"}.get(k, _fill_value(k))
                    cast = {"datetime": "::timestamp", "date": "::date"}.get(k, "")
                    conn.execute(
                        text(f"UPDATE {table} SET {c} = CAST(:v AS {original}) WHERE {where} AND {c} IS NULL")
                        if cast
                        else text(f"UPDATE {table} SET {c} = :v WHERE {where} AND {c} IS NULL"),
                        {"v": value},
                    )
                elif mutation == "deep":
                    conn.execute(
                        text(f"UPDATE {table} SET {c} = :v WHERE {where}"),
                        {"v": DEEP if k == "bytes" else DEEP.decode()},
                    )
                elif mutation == "delete":
                    conn.execute(text(f"DELETE FROM {table} WHERE {where}"))
        except DBAPIError as e:
            return f"refused by PostgreSQL: {str(e.orig).splitlines()[0]}"
        self.altered += altered
        self.touched.add(table)
        self.dirty = True
        return None

    def set(self, table: str, column: str, value: object, where: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f'UPDATE {table} SET "{column}" = :v WHERE {where}'), {"v": value})
        self.touched.add(table)
        self.dirty = True

    def _retype(self, conn: Connection, table: str, name: str, k: str) -> None:
        c = f'"{name}"'
        new = self.PG_TYPES[k]
        using = {
            "bytes": f"convert_from({c}, 'UTF8')",  # the same bytes, as text
            "str": f"convert_to({c}, 'UTF8')",
        }.get(k, f"{c}::text")
        try:
            with conn.begin_nested():
                conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {c} TYPE {new} USING {using}"))
        except DBAPIError:
            if k != "bytes":
                raise
            conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {c} TYPE text USING encode({c}, 'hex')"))

    def fingerprint(self, table: str, name: str, where: str) -> dict[object, str]:
        column = f'"{name}"'
        value = f"coalesce(pg_typeof({column})::text || ':' || {column}::text, 'NULL')"  # NULL has no type
        with self.engine.connect() as c:
            if name == KEYS[table]:  # the key itself: the column over the whole table
                return {"*": str(c.execute(text(f"SELECT string_agg({value}, ',' ORDER BY 1) FROM {table}")).scalar())}
            return {r[0]: r[1] for r in c.execute(text(f"SELECT {KEYS[table]}, {value} FROM {table} WHERE {where}"))}

    def restore(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        with self.engine.begin() as c:
            c.execute(text("SET LOCAL session_replication_role = replica"))
            c.execute(text("SET LOCAL synchronous_commit = off"))
            touched = [t for t in MODELS if t in self.touched or t == "journal"]  # the CLI journals its reads
            for t in touched:
                c.execute(text(f"DELETE FROM {t}"))
            for table, column, original, not_null in self.altered:
                c.execute(text(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE {original} USING NULL'))
                if not_null:
                    c.execute(text(f'ALTER TABLE {table} ALTER COLUMN "{column}" SET NOT NULL'))
            for t in touched:
                c.execute(text(f"INSERT INTO {t} SELECT * FROM bk_{t}"))
        self.altered.clear()
        self.touched.clear()


@pytest.fixture
def vault(ctx: VaultContext, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Vault, Backend]]:
    # the CLI in-process hundreds of times: build its click command once, not on every invoke
    get_command = getattr(typer.testing, "_get_command", None)
    if get_command is not None:
        command = get_command(app)
        monkeypatch.setattr(typer.testing, "_get_command", lambda a: command if a is app else get_command(a))
    v = build(ctx, settings)
    backend: Backend = SQLite(v) if ctx.engine.dialect.name == "sqlite" else Postgres(v)
    write_config(settings)
    yield v, backend


# -- the checkers -------------------------------------------------------------------------------


@dataclass
class Outcome:
    who: str
    verdict: str  # valid, destroyed, pending, invalid; "raised" on an exception
    named: bool  # an invalid verdict names at least one failed check
    detail: str


def item_outcome(v: Vault, item: str) -> Outcome:
    try:
        r: Report = verify_item(v.ctx, item)
    except Exception as e:  # the bug this file hunts
        return Outcome(item, "raised", False, f"{type(e).__name__}: {e}")
    failed = "; ".join(f"{c.name}: {c.detail}" for c in r.failed)
    return Outcome(item, r.status, bool(r.failed), failed)


def journal_outcome(v: Vault) -> Outcome:
    try:
        r: JournalReport = verify_journal(v.ctx)
    except Exception as e:
        return Outcome("journal", "raised", False, f"{type(e).__name__}: {e}")
    return Outcome("journal", "valid" if r.ok else "invalid", bool(r.problems), "; ".join(r.problems)[:600])


def cli_outcome(v: Vault, args: list[str]) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [*args, "--json"], env={"VAULT_HOME": str(v.settings.home)})
    return r.exit_code, r.stdout, r.stderr


EXIT = {"valid": 0, "invalid": 1, "pending": 1, "destroyed": 3}


# -- the fuzz -----------------------------------------------------------------------------------


@dataclass
class Case:
    table: str
    column: str
    mutation: str
    targets: list[object]  # row keys mutated
    where: str
    items: list[str]  # items whose verification this row concerns
    journal: bool  # whether verify_journal must notice


def cases(v: Vault, backend: Backend, table: str) -> Iterator[Case]:
    model = MODELS[table]
    seq = v.seqs
    for col in model.__table__.columns:  # type: ignore[attr-defined]
        name = col.name
        muts = [*backend.retypes, "change", "null", *(["fill"] if col.nullable else [])]  # fill: a value where NULL was
        if name in JSON_COLUMNS[table]:
            muts.append("deep")
        for m in muts:
            if table == "items":
                items = [v.f1, v.r1] + ([v.e1] if name.startswith("disposa") or name == "disposed_at" else [])
                where = "seq IN (" + ", ".join(str(seq[i]) for i in items) + ")"
                yield Case(table, name, m, [seq[i] for i in items], where, items, False)
            elif table == "segments":
                yield Case(table, name, m, [], "1 = 1", [v.r1], False)
            elif table == "batches":
                yield Case(table, name, m, [1], "seq = 1", [v.f1, v.f2], True)
            else:
                yield Case(table, name, m, [], f"id IN ({_journal_targets(v)})", [v.e1], True)
    if table == "items":
        yield Case(table, "*", "delete", [seq[v.f1]], f"seq = {seq[v.f1]}", [v.f1, v.r1], False)
    elif table == "segments":
        yield Case(table, "*", "delete", [], "1 = 1", [v.r1], False)
    elif table == "batches":
        yield Case(table, "*", "delete", [1], "seq = 1", [v.f1, v.f2], True)
    else:
        yield Case(table, "*", "delete", [], f"id IN ({_journal_targets(v)})", [v.e1], True)


def _journal_targets(v: Vault) -> str:
    """The deposit entry of f1 (batch 1) and the erasure of carol (e1's destruction record, batch 2)."""
    with v.ctx.engine.connect() as c:
        ids = [
            r[0]
            for r in c.execute(text("SELECT id, action, body FROM journal ORDER BY seq")).all()
            if (r[1] == "deposit" and v.f1.encode() in bytes(r[2])) or r[1] == "subject_erase"
        ]
    assert len(ids) == 2
    return ", ".join(f"'{i}'" for i in ids)


def fuzz(v: Vault, backend: Backend, table: str) -> tuple[list[str], dict[str, list[str]]]:
    failures: list[str] = []
    tally: dict[str, list[str]] = {"ran": [], "skipped": []}
    model = MODELS[table]
    columns = {c.name: c for c in model.__table__.columns}  # type: ignore[attr-defined]
    for case in cases(v, backend, table):
        label = f"{table}.{case.column} {case.mutation}"
        col = columns.get(case.column)
        if case.mutation != "delete":
            assert col is not None
            key_col = case.column == KEYS[table]
            before = backend.fingerprint(table, case.column, case.where)
            refused = backend.run(table, col, case.mutation, case.where)
            if refused:
                tally["skipped"].append(f"{label}: {refused}")
                backend.restore()
                continue
            after = backend.fingerprint(table, case.column, case.where)
            changed = before != after
            if not changed:
                tally["skipped"].append(f"{label}: no row changed (the value is NULL or absent)")
                backend.restore()
                continue
            changed_rows = [k for k in after if before.get(k) != after[k]] if not key_col else case.targets
        else:
            refused = backend.run(table, columns[KEYS[table]], "delete", case.where)
            assert refused is None, refused
            changed_rows = case.targets
        tally["ran"].append(label)
        try:
            failures += check_case(v, case, col, changed_rows, label)
        finally:
            backend.restore()
    return failures, tally


def check_case(v: Vault, case: Case, col: Col | None, changed_rows: list[object], label: str) -> list[str]:
    decision = case.column in DECISIONS[case.table]
    typed = case.mutation in ("retype", "retype-int", "deep") or (
        case.mutation == "null" and col is not None and not col.nullable
    )
    must_stay = decision and not typed  # a decision changed in place: no verdict may change
    # the checkers of the rows that changed must say invalid
    if case.table == "items":
        must_fail = {i for i in case.items if v.seqs[i] in changed_rows}
    elif case.table == "journal":
        must_fail = {"journal"}
    else:
        must_fail = {case.items[0], "journal"} if case.journal else {case.items[0]}
    outcomes = [item_outcome(v, i) for i in case.items]
    if case.journal or case.table == "journal":
        outcomes.append(journal_outcome(v))
    bad = []
    for o in outcomes:
        baseline = v.baseline.get(o.who, "valid")
        if o.verdict == "raised":
            bad.append(f"{label}: {o.who} raised {o.detail}")
        elif o.verdict == "invalid" and not o.named:
            bad.append(f"{label}: {o.who} is invalid without naming a failed check")
        elif must_stay and o.verdict != baseline:
            bad.append(f"{label}: {o.who} is {o.verdict} (was {baseline}) after a change of a decision: {o.detail}")
        elif not decision and o.who in must_fail and o.verdict != "invalid":
            bad.append(f"{label}: {o.who} is still {o.verdict}: tampering not detected")
        elif decision and typed and o.who in must_fail and o.verdict != "invalid":
            bad.append(f"{label}: {o.who} is still {o.verdict} though the column has another type")
    # the CLI verb, in-process, agrees with the function, in one line, never exit 2
    first = outcomes[0]
    args = ["journal", "verify"] if case.table == "journal" else ["verify", str(first.who)]
    want = EXIT.get((outcomes[-1] if case.table == "journal" else first).verdict)
    code, stdout, stderr = cli_outcome(v, args)
    output = stdout + stderr
    if len(stderr.strip().splitlines()) > 1 and case.table != "journal":
        bad.append(f"{label}: `vault {' '.join(args)}` wrote more than one line on stderr: {stderr[-300:]}")
    if (case.table, case.column if case.mutation != "delete" else "id", case.mutation) in SERVICE_NOT_FOUND:
        if code != 1 or "unexpected" in output:
            bad.append(f"{label}: `vault {' '.join(args)}` -> {code}: {output[-300:]}")
    elif code != want or "unexpected" in output:
        bad.append(f"{label}: `vault {' '.join(args)}` -> {code}, expected {want}: {output[-400:]}")
    return bad


@pytest.mark.parametrize("table", list(MODELS))
def test_every_column_tampered_is_a_verdict_never_a_crash(vault: tuple[Vault, Backend], table: str) -> None:
    v, backend = vault
    every = {c.name for c in MODELS[table].__table__.columns}  # type: ignore[attr-defined]
    assert set(DECISIONS[table]) <= every and set(JSON_COLUMNS[table]) <= every
    failures, tally = fuzz(v, backend, table)
    print(f"\n{backend.name} {table}: {len(tally['ran'])} mutations checked, {len(tally['skipped'])} not applicable")
    for s in tally["skipped"]:
        print("  skipped", s)
    assert not failures, "\n".join(failures)
    ran = set(tally["ran"])
    # the issue's own cases ran on this backend
    assert {"items.evidence retype", "items.evidence deep"} <= ran or table != "items", ran
    assert {"journal.body retype", "journal.body deep", "journal.* delete"} <= ran or table != "journal", ran
    assert "segments.receipt change" in ran or table != "segments"
    assert {"batches.manifest retype", "batches.* delete"} <= ran or table != "batches"


def test_same_bytes_retyped_is_reported_by_column(vault: tuple[Vault, Backend]) -> None:
    """The issue's reproduction: ``items.evidence`` and ``journal.body`` rewritten as TEXT, same
    bytes: a failed check naming the column, exit 1 (it was exit 2, "unexpected TypeError")."""
    v, backend = vault
    backend.run("items", Item.__table__.c.evidence, "retype", "1 = 1")  # type: ignore[attr-defined]
    backend.run("journal", JournalEntry.__table__.c.body, "retype", "1 = 1")  # type: ignore[attr-defined]
    report = verify_item(v.ctx, v.f1)
    assert [(c.name, c.ok) for c in report.checks] == [("index_record", False)]
    assert "items.evidence is not bytes (it is text)" in report.checks[0].detail
    problems = verify_journal(v.ctx).problems
    assert problems and all("journal.body is not bytes (it is text)" in p for p in problems)
    code, stdout, stderr = cli_outcome(v, ["verify", v.f1])
    assert code == 1 and '"name": "index_record"' in stdout and "items.evidence is not bytes" in stdout
    code, stdout, stderr = cli_outcome(v, ["journal", "verify"])
    assert code == 1 and json.loads(stdout)["status"] == "invalid", stdout + stderr


def test_deep_json_in_the_index_is_a_failed_check(vault: tuple[Vault, Backend]) -> None:
    """JSON nested 100 000 deep in the index's evidence, path, batch pins or journal bodies is a
    failed check naming the column (it was "unexpected RecursionError")."""
    v, backend = vault
    for table, column, item, check in (
        ("items", "evidence", v.f1, "index_record"),
        ("items", "path", v.f1, "path_to_root"),
        ("batches", "versions", v.f1, "batch_objects"),
        ("journal", "body", None, "journal"),
    ):
        col = MODELS[table].__table__.c[column]  # type: ignore[attr-defined]
        assert backend.run(table, col, "deep", "1 = 1") is None
        if table == "journal":  # an insider would make the leaf agree, so that the body gets parsed
            backend.set(table, "leaf", hashlib.sha256(DEEP).digest(), "1 = 1")
        try:
            if item is None:
                problems = verify_journal(v.ctx).problems
                assert any("journal.body is JSON nested deeper than 64 levels" in p for p in problems), problems
                code, stdout, _ = cli_outcome(v, ["journal", "verify"])
                assert code == 1 and json.loads(stdout)["status"] == "invalid"
                continue
            failed = {c.name: c.detail for c in verify_item(v.ctx, item).failed}
            assert "nested deeper than 64 levels" in failed.get(check, ""), (column, failed)
            assert f"{table}.{column}" in failed[check], (column, failed)
            code, stdout, stderr = cli_outcome(v, ["verify", item])
            assert code == 1 and "unexpected" not in stdout + stderr, stdout + stderr
        finally:
            backend.restore()


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b'{"ip": "192.0.2.1"}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n",  # JSON lines
        b"]" * 70 + b"\n" + b"[" * 100_000 + b"]" * 100_000,  # closing brackets first
    ],
)
def test_deep_json_deposit_is_one_readable_line(
    ctx: VaultContext, settings: Settings, tmp_path: Path, payload: bytes
) -> None:
    write_config(settings)
    f = tmp_path / "deep.json"
    f.write_bytes(payload)
    args = ["deposit", str(f), "--kind", "connection_metadata", "--tenant", "acme", "--session", "s1"]
    r = CliRunner().invoke(app, args, env={"VAULT_HOME": str(settings.home)})
    assert r.exit_code == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "unexpected" not in lines[0], r.stderr
    assert lines[0] == "error: JSON nested deeper than 64 levels", lines
