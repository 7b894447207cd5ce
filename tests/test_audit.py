"""`vault audit`: the index checked against the sealed chain in the store. A clean vault audits
clean; a deleted item row, a deleted segment row, an extra row, a deleted batch row and a
journal gap are each found and named; the audit is journalled and exits 1 on any problem."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from conftest import write_config
from vault.audit.completeness import audit
from vault.batch.sealer import seal_pending
from vault.cli import app
from vault.config import Settings
from vault.context import VaultContext
from vault.index.models import Item
from vault.verify.online import load_item
from vault_support import journal, put_file, rec


@dataclass
class Sealed:
    ctx: VaultContext
    settings: Settings
    files: list[str]
    records: list[str]


@pytest.fixture
def sealed(ctx: VaultContext, settings: Settings) -> Sealed:
    files = [put_file(ctx, "alice", b"log one"), put_file(ctx, "bob", b"log two", tenant="beta")]
    seal_pending(ctx)  # batch 1
    records = [rec(ctx, "alice", {"ip": "192.0.2.1"}), rec(ctx, "carol", {"ip": "192.0.2.2"})]
    files.append(put_file(ctx, "alice", b"log three"))
    seal_pending(ctx)  # batch 2
    return Sealed(ctx, settings, files, records)


def sql(ctx: VaultContext, *statements: str, **params: object) -> None:
    """Raw edits, as an insider with database access would make them (foreign keys off)."""
    with ctx.engine.connect() as c:
        if c.dialect.name == "sqlite":
            c.exec_driver_sql("PRAGMA foreign_keys=OFF")
        else:
            c.exec_driver_sql("SET session_replication_role = replica")
        for st in statements:
            c.execute(text(st), params)
        c.commit()


def kinds(ctx: VaultContext, **kw: object) -> list[tuple[str, str]]:
    return sorted((p.kind, p.id) for p in audit(ctx, **kw).problems)  # type: ignore[arg-type]


def test_a_clean_vault_audits_clean(sealed: Sealed) -> None:
    r = audit(sealed.ctx)
    assert r.ok, r.as_json()
    assert (r.batches, r.sealed_items, r.index_items, r.pending_items) == (2, 5, 5, 0)
    assert r.sealed_entries >= 5  # the deposits' journal entries ride in the batches
    assert audit(sealed.ctx, tenant="beta").ok


def test_a_deleted_item_row_is_named(sealed: Sealed) -> None:
    gone = sealed.files[0]
    sql(sealed.ctx, "DELETE FROM items WHERE id = :id", id=gone)
    problems = kinds(sealed.ctx)
    assert problems == [("item_row_missing", gone)], problems
    [p] = audit(sealed.ctx).problems
    assert "sealed as leaf" in p.detail and "of batch 1" in p.detail
    deleted_record = sealed.records[1]
    sql(sealed.ctx, "DELETE FROM items WHERE id = :id", id=deleted_record)
    assert ("item_row_missing", deleted_record) in kinds(sealed.ctx)
    assert kinds(sealed.ctx, tenant="beta") == []  # the deletions were acme's


def test_a_deleted_segment_row_is_named(sealed: Sealed) -> None:
    item = load_item(sealed.ctx, sealed.records[0])[0]
    sql(sealed.ctx, "DELETE FROM segments WHERE id = :id", id=item.segment_id)
    assert kinds(sealed.ctx) == [("segment_row_missing", str(item.segment_id))]


def test_extra_rows_not_under_any_batch_are_named(sealed: Sealed) -> None:
    src = load_item(sealed.ctx, sealed.files[0])[0]
    cols = [c.name for c in Item.__table__.columns if c.name != "seq"]
    values = {c: getattr(src, c) for c in cols}
    with sealed.ctx.sessions() as s:
        s.add(Item(**{**values, "id": "ev_forged00000000000000000001", "leaf": b"\x01" * 32}))  # claims batch 1
        s.add(
            Item(
                **{
                    **values,
                    "id": "ev_forged00000000000000000002",
                    "state": "stored",
                    "batch_seq": None,
                    "path": None,
                    "received_at": src.received_at.replace(year=src.received_at.year - 1),
                }
            )
        )
        s.commit()
    assert kinds(sealed.ctx) == [
        ("item_not_in_batch", "ev_forged00000000000000000001"),
        ("item_row_mismatch", "ev_forged00000000000000000002"),  # it copies a sealed leaf of another item
        ("item_unsealed_too_long", "ev_forged00000000000000000002"),
    ]


def test_a_deleted_batch_row_is_named(sealed: Sealed) -> None:
    sql(sealed.ctx, "DELETE FROM batches WHERE seq = 2")
    assert kinds(sealed.ctx) == [("batch_row_missing", "2")]


def test_a_journal_gap_is_named(sealed: Sealed) -> None:
    entry = journal(sealed.ctx, "deposit")[0]
    sql(sealed.ctx, "DELETE FROM journal WHERE id = :id", id=entry["id"])
    assert kinds(sealed.ctx) == [("journal_row_missing", entry["id"])]


def test_a_batch_missing_from_the_store_breaks_the_chain(sealed: Sealed, seaweed: object) -> None:
    from seaweed_support import filer_delete_version

    with sealed.ctx.sessions() as s:
        from vault.index.models import Batch

        b = s.get(Batch, 1)
        assert b is not None
        prefix, versions = b.object_prefix, json.loads(b.versions)
    for name, version in versions.items():
        assert filer_delete_version(seaweed, sealed.ctx.store.bucket, prefix + name, version) in (200, 202, 204)
    problems = kinds(sealed.ctx)
    assert ("batch_missing", "1") in problems and ("chain_broken", "2") in problems
    assert ("batch_row_extra", "1") in problems


def test_the_cli_audit_exits_1_names_problems_and_is_journalled(sealed: Sealed) -> None:
    write_config(sealed.settings)
    runner = CliRunner()
    env = {"VAULT_HOME": str(sealed.settings.home)}
    ok = runner.invoke(app, ["audit", "--json"], env=env)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    sql(sealed.ctx, "DELETE FROM items WHERE id = :id", id=sealed.files[2])
    bad = runner.invoke(app, ["audit"], env=env)
    assert bad.exit_code == 1
    assert f"item_row_missing {sealed.files[2]}" in bad.output and "audit FAILED" in bad.output
    entries = journal(sealed.ctx, "audit")
    assert [e["details"]["ok"] for e in entries] == [True, False]
    assert entries[1]["details"]["by_kind"] == {"item_row_missing": 1}


def test_the_scheduled_audit_reaches_status_and_readyz(sealed: Sealed) -> None:
    from vault.runtime.audit_runner import AuditRunner
    from vault.service.health import _last_audit

    assert _last_audit(sealed.settings)["ok"] is True  # none yet: not a failure
    summary = AuditRunner(sealed.ctx).run_once()
    assert summary["ok"] is True and _last_audit(sealed.settings)["ok"] is True
    sql(sealed.ctx, "DELETE FROM items WHERE id = :id", id=sealed.files[0])
    seen: list[dict[str, object]] = []
    summary = AuditRunner(sealed.ctx, on_result=seen.append).run_once()
    assert summary["problems"] == 1 and seen == [summary]
    status = _last_audit(sealed.settings)
    assert status["ok"] is False and "item_row_missing" in status["detail"]
    assert status["cause"] == "the completeness audit found problems"
