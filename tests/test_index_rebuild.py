"""`vault index rebuild --from-store`: a vault whose index was deleted gets every sealed item
back from the batches and manifests in the store; with the data keys of an index backup each
item verifies, and the rebuilt index audits clean."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select, text
from typer.testing import CliRunner

from conftest import open_ctx, write_config
from vault.batch.sealer import seal_pending
from vault.cli import app
from vault.config import Settings
from vault.context import VaultContext
from vault.index.db import migrate
from vault.index.models import Hold, Item, SubjectKey, Tenant
from vault.retention.contract import create_tenant, end_service
from vault.retention.holds import add_hold
from vault.verify.online import verify_item
from vault_support import put_file, rec


def _backup_keys(ctx: VaultContext, path: Path) -> str:
    """What an index backup holds of the keys: the key rows and which item used which."""
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    migrate(engine)
    with ctx.engine.connect() as src, engine.begin() as dst:
        dst.execute(text("PRAGMA foreign_keys=OFF"))
        for row in src.execute(select(Tenant.__table__)):
            dst.execute(insert(Tenant.__table__).values(**row._mapping))
        for row in src.execute(select(SubjectKey.__table__)):
            dst.execute(insert(SubjectKey.__table__).values(**row._mapping))
        for row in src.execute(select(Item.__table__)):
            dst.execute(insert(Item.__table__).values(**{**row._mapping, "batch_seq": None, "segment_id": None}))
    engine.dispose()
    return url


def _drop_index(ctx: VaultContext, settings: Settings) -> None:
    ctx.close()
    if settings.database_url.startswith("sqlite"):
        db = Path(settings.database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    else:
        engine = create_engine(settings.database_url)
        with engine.begin() as c:
            schema = c.execute(text("select current_schema()")).scalar()
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()


@pytest.fixture
def lost(settings: Settings, tmp_path: Path) -> tuple[Settings, list[str], str]:
    ctx = open_ctx(settings)
    create_tenant(ctx, "acme", 20)
    ids = [put_file(ctx, "alice", b"session log " * 100, meta={"device": "PC-7"})]
    ids += [rec(ctx, "alice", {"ip": "192.0.2.1"}), rec(ctx, "bob", {"ip": "192.0.2.2"}, tenant="beta")]
    seal_pending(ctx)
    end_service(ctx, "acme", dt.date(2025, 12, 31))
    add_hold(ctx, tenant="acme", session="s1", case="RG-2026-1")
    ids.append(put_file(ctx, "carol", b"signed report", kind="signed_document"))
    seal_pending(ctx)
    seal_pending(ctx)  # the hold's and contract's journal entries, if any are left
    backup = _backup_keys(ctx, tmp_path / "backup.sqlite3")
    _drop_index(ctx, settings)
    return settings, ids, backup


def test_rebuild_gives_back_every_sealed_item_and_each_verifies(lost: tuple[Settings, list[str], str]) -> None:
    settings, ids, backup = lost
    write_config(settings)
    r = CliRunner().invoke(
        app,
        ["index", "rebuild", "--from-store", "--keys-from", backup, "--json"],
        env={"VAULT_HOME": str(settings.home)},
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["audit"]["ok"] is True, doc["audit"]
    assert (doc["items"], doc["sealed_items"], doc["items_without_key"], doc["problems"]) == (4, 4, 0, [])
    assert doc["batches"] >= 2 and doc["segments"] == 2 and doc["holds"] == 1
    ctx = open_ctx(settings)
    try:
        for item_id in ids:
            report = verify_item(ctx, item_id)
            assert report.valid, (item_id, report.as_json())
        with ctx.sessions() as s:
            acme = s.get(Tenant, "acme")
            assert acme is not None and (acme.proof_years, acme.service_ended_on) == (20, dt.date(2025, 12, 31))
            [hold] = s.scalars(select(Hold)).all()
            assert (hold.tenant_id, hold.session, hold.case_ref, hold.released_at) == ("acme", "s1", "RG-2026-1", None)
            depositors = set(s.scalars(select(Item.deposited_by)).all())
        assert depositors == {"vault"}
        # the rebuilt index goes on: new holds and keys do not collide with the restored ones
        add_hold(ctx, tenant="acme", session="s2", case="RG-2026-2")
        put_file(ctx, "dave", b"after the rebuild")
        seal_pending(ctx)
        from vault.access.principal import SYSTEM
        from vault.service.audit import audit

        assert audit(ctx, SYSTEM).ok
    finally:
        ctx.close()


def test_rebuild_without_keys_verifies_down_to_the_ciphertext(lost: tuple[Settings, list[str], str]) -> None:
    settings, ids, _ = lost
    ctx = VaultContext.open(settings, migrate_schema=True)
    try:
        from vault.access.principal import SYSTEM
        from vault.service.audit import audit, rebuild_index

        r = rebuild_index(ctx, SYSTEM)
        assert (r.items, r.items_without_key) == (4, 4)
        assert audit(ctx, SYSTEM).ok
        report = verify_item(ctx, ids[0]).as_json()
        failed = {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}
        assert set(failed) == {"decrypt"}, report
        passed = {c["name"] for c in report["checks"] if c["ok"]}
        assert {"stored_bytes", "evidence_leaf", "path_to_root", "seal", "timestamp", "chain"} <= passed
    finally:
        ctx.close()


def test_rebuild_refuses_a_non_empty_index(ctx: VaultContext) -> None:
    from vault.access.principal import SYSTEM
    from vault.errors import InputError
    from vault.service.audit import rebuild_index

    put_file(ctx, "alice", b"x")
    with pytest.raises(InputError, match="not empty"):
        rebuild_index(ctx, SYSTEM)
