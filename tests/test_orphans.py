"""Erasure and retention reach data of deposits that never finished (review finding 4).

A deposit that crashes between its object write and its final commit leaves an ``orphaned``
intent (item or segment) whose ciphertext sits, locked, in the store. Erasure must destroy the
data keys of such deposits (and keys with no item at all) as well as those of acknowledged
items; the retention run must delete the orphaned objects once their lock has ended, and never
an object that acknowledged data also points to. Real SeaweedFS and TSA, vault clock fixed,
short real locks (``drill_lock_seconds``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select, update

import vault.ingest.files
import vault.ingest.records
from conftest import open_ctx, with_settings
from vault.batch.sealer import seal_pending
from vault.clock import FixedClock
from vault.config import Settings
from vault.context import VaultContext
from vault.envelope.stream import decrypt_bytes
from vault.errors import KeyError_
from vault.index.models import Item, Segment, SubjectKey
from vault.privacy.erasure import erase_subject
from vault.privacy.reading import decoded_fields
from vault.retention.apply import ORPHAN_RULE, apply_retention
from vault.retention.contract import create_tenant
from vault.retention.holds import add_hold
from vault.runtime.recovery import recover_intents
from vault_support import DRILL, count, item, journal, put_file, rec, wait_for_drill_locks

T0 = dt.datetime(2024, 6, 1, 10, 0, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(days=2)  # past the settle period of orphans, long before any retention ends
LOCK = 4.0  # real seconds of the locks in the tests that look at a lock before it ends


class Crash(Exception):
    """Stands for the process dying at a fault point (``VAULT_FAULT_INJECT``)."""


def _vault(settings: Settings, lock_seconds: float) -> VaultContext:
    c = open_ctx(with_settings(settings, drill_lock_seconds=lock_seconds))
    c.clock = FixedClock(T0)
    create_tenant(c, "acme", 20)
    return c


@pytest.fixture
def vctx(settings: Settings) -> Iterator[VaultContext]:
    c = _vault(settings, DRILL)
    yield c
    c.close()


@pytest.fixture
def slow_lock_ctx(settings: Settings) -> Iterator[VaultContext]:
    c = _vault(settings, LOCK)
    yield c
    c.close()


def crashed_file(
    ctx: VaultContext, monkeypatch: pytest.MonkeyPatch, subject: str, data: bytes, **kw: Any
) -> tuple[str, str]:
    """A file deposit that dies right after its object write: (item id, object key), row `writing`."""

    def crash(name: str) -> None:
        raise Crash(name)

    monkeypatch.setattr(vault.ingest.files, "fault_point", crash)
    with pytest.raises(Crash):
        put_file(ctx, subject, data, **kw)
    monkeypatch.undo()
    with ctx.sessions() as s:
        it = s.scalars(select(Item).where(Item.state == "writing").order_by(Item.seq.desc())).first()
        assert it is not None
        return it.id, it.object_key


def crashed_segment(ctx: VaultContext, monkeypatch: pytest.MonkeyPatch, subject: str, **kw: Any) -> tuple[str, str]:
    """A record deposit that dies right after its segment write: (segment id, object key)."""

    def crash(name: str) -> None:
        raise Crash(name)

    monkeypatch.setattr(vault.ingest.records, "fault_point", crash)
    with pytest.raises(Crash):
        rec(ctx, subject, {"ip": "203.0.113.66"}, **kw)
    monkeypatch.undo()
    with ctx.sessions() as s:
        seg = s.scalars(select(Segment).where(Segment.state == "writing").order_by(Segment.created_at.desc())).first()
        assert seg is not None
        return seg.id, seg.object_key


def versions(ctx: VaultContext, key: str) -> list[dict[str, Any]]:
    """Every version and delete marker of ``key`` and of its manifest, as S3 lists them."""
    r = ctx.store.client.list_object_versions(Bucket=ctx.store.bucket, Prefix=key)
    return [v for v in r.get("Versions", []) + r.get("DeleteMarkers", []) if v["Key"] in (key, key + ".manifest.json")]


def key_row(ctx: VaultContext, kid: int) -> SubjectKey:
    with ctx.sessions() as s:
        k = s.get(SubjectKey, kid)
        assert k is not None
        return k


def key_of(ctx: VaultContext, item_id: str) -> int:
    with ctx.sessions() as s:
        kid = s.scalar(select(Item.subject_key_id).where(Item.id == item_id))
        assert kid is not None
        return int(kid)


def orphan_plaintext(ctx: VaultContext, item_id: str, object_key: str) -> bytes:
    """Decrypt an orphan's stored ciphertext with its data key (KeyError_ once destroyed)."""
    _row, dek = ctx.data_keys.by_id(key_of(ctx, item_id))
    if dek is None:
        raise KeyError_("the data key was destroyed")
    [v] = [v for v in versions(ctx, object_key) if v["Key"] == object_key]
    return decrypt_bytes(dek, item_id.encode(), ctx.store.get(object_key, v["VersionId"]))


# -- erasure -----------------------------------------------------------------------------------
def test_erasure_destroys_the_key_of_an_orphaned_item_too(vctx: VaultContext, monkeypatch: pytest.MonkeyPatch) -> None:
    acked = put_file(vctx, "alice", b"alice's log", meta={"device": "d1"})
    orphan, okey = crashed_file(vctx, monkeypatch, "alice", b"alice's crashed upload", purpose="personalization")
    recover_intents(vctx, older_than=dt.timedelta(0))
    assert item(vctx, orphan).state == "orphaned"
    seal_pending(vctx)
    assert key_of(vctx, acked) != key_of(vctx, orphan)  # another purpose: another key
    assert orphan_plaintext(vctx, orphan, okey) == b"alice's crashed upload"  # readable before

    r = erase_subject(vctx, "acme", "alice")
    assert r.erased == [acked] and r.refused == []
    assert r.keys_destroyed == 2 and r.unacknowledged == [orphan]
    for i in (acked, orphan):
        assert key_row(vctx, key_of(vctx, i)).wrapped_key is None
    with pytest.raises(KeyError_):
        orphan_plaintext(vctx, orphan, okey)
    with pytest.raises(KeyError_):
        decoded_fields(vctx, item(vctx, acked))
    assert item(vctx, orphan).state == "orphaned" and item(vctx, orphan).disposal is None  # never evidence
    [entry] = journal(vctx, "subject_erase")
    assert entry["id"] == r.record and entry["details"]["unacknowledged"] == [orphan]
    assert sorted(k["key"] for k in entry["details"]["keys_destroyed"]) == sorted(
        key_of(vctx, i) for i in (acked, orphan)
    )
    again = erase_subject(vctx, "acme", "alice")  # idempotent
    assert (again.erased, again.keys_destroyed, again.unacknowledged) == ([acked], 0, [])


def test_erasure_destroys_keys_with_no_item_and_of_in_flight_intents(
    vctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    spare, _ = vctx.data_keys.data_key("acme", "alice", "support")  # a key no item uses
    seg, _skey = crashed_segment(vctx, monkeypatch, "alice", purpose="personalization")  # key, no item rows
    writing, _ = crashed_file(vctx, monkeypatch, "alice", b"upload cut", purpose="service_improvement")
    bob = rec(vctx, "bob", {"ip": "198.51.100.1"})
    with vctx.sessions() as s:
        alice_keys = s.scalars(select(SubjectKey.id).where(SubjectKey.subject == "alice")).all()
    assert len(alice_keys) == 3 and spare in alice_keys

    r = erase_subject(vctx, "acme", "alice")
    assert (r.erased, r.refused, r.keys_destroyed, r.unacknowledged) == ([], [], 3, [writing])
    for kid in alice_keys:
        assert key_row(vctx, kid).wrapped_key is None
    assert key_row(vctx, key_of(vctx, bob)).wrapped_key is not None  # another subject's key stays
    assert decoded_fields(vctx, item(vctx, bob))["ip"] == "198.51.100.1"
    assert count(vctx, Segment, Segment.id == seg) == 1


def test_a_refused_purpose_keeps_its_key_and_the_rest_goes(vctx: VaultContext, monkeypatch: pytest.MonkeyPatch) -> None:
    tp = put_file(vctx, "alice", b"signed report", kind="transaction_proof")
    tp_orphan, _ = crashed_file(vctx, monkeypatch, "alice", b"report, crashed", kind="transaction_proof")
    support_orphan, _ = crashed_file(vctx, monkeypatch, "alice", b"log, crashed")
    recover_intents(vctx, older_than=dt.timedelta(0))
    seal_pending(vctx)
    assert key_of(vctx, tp) == key_of(vctx, tp_orphan)

    r = erase_subject(vctx, "acme", "alice")
    assert r.erased == [] and [x.item.id for x in r.refused] == [tp]
    assert r.refused[0].reason.startswith("legal retention")
    assert r.keys_destroyed == 1 and r.unacknowledged == [support_orphan]
    assert key_row(vctx, key_of(vctx, tp)).wrapped_key is not None  # the transaction proof's key stays
    assert key_row(vctx, key_of(vctx, support_orphan)).wrapped_key is None
    assert decoded_fields(vctx, item(vctx, tp)) is not None


@pytest.mark.parametrize("path", ["file", "records"])
def test_a_deposit_racing_with_the_erasure_is_not_acknowledged(
    vctx: VaultContext, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The erasure runs between the deposit's object write and its commit (the key is new, so
    no acknowledged item uses it): it destroys the key, and the commit refuses the deposit."""
    erasures = []

    def erase_meanwhile(name: str) -> None:
        erasures.append(erase_subject(vctx, "acme", "alice"))

    module = vault.ingest.files if path == "file" else vault.ingest.records
    monkeypatch.setattr(module, "fault_point", erase_meanwhile)
    with pytest.raises(KeyError_, match="destroyed while the deposit was written"):
        if path == "file":
            put_file(vctx, "alice", b"log")
        else:
            rec(vctx, "alice", {"ip": "203.0.113.7"})
    monkeypatch.undo()
    [r] = erasures
    assert r.keys_destroyed == 1 and r.erased == []
    assert journal(vctx, "deposit") == []  # never acknowledged
    assert count(vctx, Item, Item.state.in_(("stored", "sealed"))) == 0
    with vctx.sessions() as s:
        [k] = s.scalars(select(SubjectKey)).all()
    assert k.wrapped_key is None
    if path == "file":
        assert r.unacknowledged == [i.id for i in _items(vctx)]


def _items(ctx: VaultContext) -> list[Item]:
    with ctx.sessions() as s:
        return list(s.scalars(select(Item)).all())


# -- retention ---------------------------------------------------------------------------------
def test_retention_deletes_orphaned_objects_once_their_lock_ends(
    slow_lock_ctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = slow_lock_ctx
    acked = put_file(ctx, "alice", b"acknowledged log")
    orphan, okey = crashed_file(ctx, monkeypatch, "alice", b"crashed upload")
    seg, skey = crashed_segment(ctx, monkeypatch, "bob")
    recover_intents(ctx, older_than=dt.timedelta(0))
    assert len(versions(ctx, okey)) == 1 and len(versions(ctx, skey)) == 1  # crashed before their manifests
    started = time.monotonic()

    young = apply_retention(ctx)  # vault clock still at the deposits: their uploads may be running
    assert young.orphans_deleted == [] and len(young.orphans_pending) == 2
    assert all("upload may still be running" in p["reason"] for p in young.orphans_pending)

    ctx.clock = FixedClock(LATER)
    locked = apply_retention(ctx)
    assert time.monotonic() - started < LOCK, "too slow to see the lock in force"
    assert locked.orphans_deleted == [] and locked.destroyed == [] and locked.failed == []
    assert sorted((p["object"], p["items"], p["segments"]) for p in locked.orphans_pending) == sorted(
        [(okey, [orphan], []), (skey, [], [seg])]
    )
    assert all("is locked until" in p["reason"] for p in locked.orphans_pending)
    assert len(versions(ctx, okey)) == 1 and len(versions(ctx, skey)) == 1
    assert journal(ctx, "orphan_destroy") == []

    time.sleep(max(0.0, LOCK + 1.5 - (time.monotonic() - started)))
    run = apply_retention(ctx)
    assert run.orphans_pending == [] and run.failed == [] and run.destroyed == []
    assert sorted((d["object"], d["versions_deleted"]) for d in run.orphans_deleted) == sorted([(okey, 1), (skey, 1)])
    assert versions(ctx, okey) == [] and versions(ctx, skey) == []
    entries = {e["details"]["objects"][0]: e for e in journal(ctx, "orphan_destroy")}
    assert set(entries) == {okey, skey}
    assert entries[okey]["details"]["items"] == [orphan] and entries[skey]["details"]["segments"] == [seg]
    assert entries[okey]["details"]["objects"] == [okey, okey + ".manifest.json"]
    it = item(ctx, orphan)
    assert (it.state, it.disposal, it.disposal_rule) == ("orphaned", "destroyed", ORPHAN_RULE)
    assert it.disposal_record == entries[okey]["id"]
    with ctx.sessions() as s:
        segment = s.get(Segment, seg)
        assert segment is not None and segment.deleted_at == LATER
    [last] = journal(ctx, "retention_run")[-1:]
    assert last["details"]["orphans_deleted"] == 2
    # the acknowledged item is untouched, and a second run has nothing left to do
    assert item(ctx, acked).disposal is None and len(versions(ctx, item(ctx, acked).object_key)) == 2
    again = apply_retention(ctx)
    assert again.orphans_deleted == [] and again.orphans_pending == []


def test_an_object_acknowledged_data_points_to_is_never_deleted(
    vctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Orphaned rows whose object is also an acknowledged segment's (an index that says so,
    however it came to): the run leaves the object and says why."""
    cm = rec(vctx, "alice", {"ip": "203.0.113.7"})
    seal_pending(vctx)
    acked = item(vctx, cm)
    assert acked.segment_id is not None
    with vctx.sessions() as s:
        s.execute(
            insert(Segment).values(
                id="sg_orphan_same_object",
                tenant_id="acme",
                retention_class=acked.retention_class,
                object_key=acked.object_key,
                version_id=None,
                state="orphaned",
                size=1,
                records=1,
                retain_until=acked.retain_until,
                created_at=T0,
            )
        )
        s.commit()
    orphan, okey = crashed_file(vctx, monkeypatch, "alice", b"crashed upload")
    named, nkey = crashed_file(vctx, monkeypatch, "alice", b"another crashed upload")
    recover_intents(vctx, older_than=dt.timedelta(0))
    with vctx.sessions() as s:  # one orphaned item's row points into the acknowledged segment...
        s.execute(
            update(Item).where(Item.id == orphan).values(object_key=acked.object_key, segment_id=acked.segment_id)
        )  # ...another one names it
        s.execute(update(Item).where(Item.id == named).values(segment_id=acked.segment_id))
        s.commit()
    wait_for_drill_locks()
    vctx.clock = FixedClock(LATER)
    before = versions(vctx, acked.object_key)

    run = apply_retention(vctx)
    assert run.orphans_deleted == []
    assert sorted((p["object"], p["items"], p["segments"], p["reason"]) for p in run.orphans_pending) == sorted(
        [
            (
                acked.object_key,
                [orphan],
                ["sg_orphan_same_object"],
                f"not deleted: item {cm} (sealed) points to this object",
            ),
            (nkey, [named], [], f"not deleted: segment {acked.segment_id} (stored) points to this object"),
        ]
    )
    assert versions(vctx, acked.object_key) == before and len(versions(vctx, nkey)) == 1
    assert len(versions(vctx, okey)) == 1  # no row names it any more: never deleted
    assert decoded_fields(vctx, item(vctx, cm))["ip"] == "203.0.113.7"
    assert journal(vctx, "orphan_destroy") == []


def test_a_held_orphan_is_kept(vctx: VaultContext, monkeypatch: pytest.MonkeyPatch) -> None:
    orphan, okey = crashed_file(vctx, monkeypatch, "alice", b"crashed upload", session="s9")
    recover_intents(vctx, older_than=dt.timedelta(0))
    add_hold(vctx, tenant="acme", session="s9", case="RG-2026-009")
    wait_for_drill_locks()
    vctx.clock = FixedClock(LATER)
    run = apply_retention(vctx)
    assert run.orphans_deleted == []
    assert [(p["items"], p["reason"]) for p in run.orphans_pending] == [([orphan], "legal hold: case RG-2026-009")]
    assert len(versions(vctx, okey)) == 1


def test_erase_then_retention_leaves_nothing_of_the_orphan(vctx: VaultContext, monkeypatch: pytest.MonkeyPatch) -> None:
    orphan, okey = crashed_file(vctx, monkeypatch, "alice", b"crashed upload")
    recover_intents(vctx, older_than=dt.timedelta(0))
    r = erase_subject(vctx, "acme", "alice")
    assert r.keys_destroyed == 1 and r.unacknowledged == [orphan]
    wait_for_drill_locks()
    vctx.clock = FixedClock(LATER)
    run = apply_retention(vctx)
    assert [d["items"] for d in run.orphans_deleted] == [[orphan]]
    assert versions(vctx, okey) == []
