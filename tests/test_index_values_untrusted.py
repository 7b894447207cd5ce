"""Values that leave the vault or enter a sealed record come from the sealed evidence, not from
the index: a changed `items.sha256` never reaches a destruction record or a subject access
export; an index row that does not match its sealed evidence is not destroyed (the run says
why); one missing object never hides the rest of a subject access export."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from conftest import open_ctx, with_settings
from vault.batch.sealer import seal_pending
from vault.clock import FixedClock
from vault.config import Settings
from vault.context import VaultContext
from vault.index.models import Item
from vault.privacy.rights import subject_access
from vault.retention.apply import apply_retention
from vault.retention.contract import create_tenant, end_service
from vault_support import DRILL, item, journal, put_file, rec, wait_for_drill_locks

T0 = dt.datetime(2024, 6, 1, 10, 0, tzinfo=dt.UTC)
LOG = b"2024-06-01 10:00 alice opened a session\n"


@pytest.fixture
def vctx(settings: Settings) -> Iterator[VaultContext]:
    c = open_ctx(with_settings(settings, drill_lock_seconds=DRILL))
    c.clock = FixedClock(T0)
    create_tenant(c, "acme")
    yield c
    c.close()


def _set(ctx: VaultContext, item_id: str, **values: object) -> None:
    with ctx.sessions() as s:
        s.execute(update(Item).where(Item.id == item_id).values(**values))
        s.commit()


def _due(ctx: VaultContext) -> None:
    end_service(ctx, "acme", dt.date(2024, 6, 1))
    ctx.clock = FixedClock(dt.datetime(2025, 6, 3, tzinfo=dt.UTC))
    wait_for_drill_locks()


def test_a_changed_sha256_column_never_enters_the_destruction_record(vctx: VaultContext) -> None:
    log = put_file(vctx, "alice", LOG)
    seal_pending(vctx)
    _set(vctx, log, sha256="f" * 64)
    _due(vctx)
    run = apply_retention(vctx, seal=False)
    assert [d["id"] for d in run.destroyed] == [log] and run.failed == []
    [record] = journal(vctx, "destroy")
    # a salted item (vault-evidence/2, ADR 0010) has no plain digest to copy: null, never the index's "fff…"
    assert record["details"]["items"][0]["sha256"] is None
    assert record["details"]["items"][0]["leaf"] == item(vctx, log).leaf.hex()  # type: ignore[union-attr]


def test_a_row_that_does_not_match_its_sealed_evidence_is_not_destroyed(vctx: VaultContext) -> None:
    log = put_file(vctx, "alice", LOG)
    other = put_file(vctx, "bob", b"bob's log")
    seal_pending(vctx)
    forged = json.loads(item(vctx, log).evidence or b"{}")
    forged["content"]["sha256"] = "0" * 64
    body = json.dumps(forged).encode()
    _set(vctx, log, evidence=body, leaf=hashlib.sha256(body).digest())  # consistent, but not what was sealed
    _due(vctx)
    run = apply_retention(vctx, seal=False)
    assert [d["id"] for d in run.destroyed] == [other]
    [failed] = run.failed
    assert failed["id"] == log and "does not match its sealed evidence" in failed["reason"]
    assert "not in batch 1 as stored" in failed["reason"]
    assert item(vctx, log).disposal is None  # nothing destroyed on the index's word


def test_subject_access_takes_digests_from_the_seal_and_lists_a_missing_object(
    vctx: VaultContext, tmp_path: Path, seaweed: object
) -> None:
    from seaweed_support import filer_delete_version

    log = put_file(vctx, "alice", LOG)
    gone = put_file(vctx, "alice", b"a report whose object an insider deleted", kind="signed_document")
    ip = rec(vctx, "alice", {"ip": "203.0.113.7"})
    seal_pending(vctx)
    _set(vctx, log, sha256="f" * 64)
    it = item(vctx, gone)
    assert filer_delete_version(seaweed, vctx.store.bucket, it.object_key, it.version_id or "") in (200, 202, 204)

    r = subject_access(vctx, "acme", "alice", tmp_path / "alice")
    assert (r["items"], r["unavailable"]) == (3, 1)
    doc = json.loads((tmp_path / "alice" / "subject.json").read_text())
    by_id = {e["id"]: e for e in doc["items"]}
    assert by_id[log]["content_sha256"] is None  # salted (ADR 0010): nothing plain to give, never the index's "fff…"
    assert (tmp_path / "alice" / "files" / log).read_bytes() == LOG
    assert by_id[ip]["fields"] == {"ip": "203.0.113.7", "subject": "alice"}
    assert by_id[gone]["status"] == "unavailable" and "object version missing" in by_id[gone]["problem"]
    assert not (tmp_path / "alice" / "files" / gone).exists()
    [entry] = journal(vctx, "subject_access")
    assert entry["details"]["unavailable"] == 1
