"""Every row of the seed's retention table, walked through with the settable clock against
real SeaweedFS (locks of a few real seconds) on the fixture's index (SQLite or PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import select

from conftest import open_ctx
from vault.batch.sealer import seal_pending
from vault.clock import FixedClock
from vault.config import Settings
from vault.context import VaultContext
from vault.evidence.kinds import Purpose
from vault.index.models import Item, SubjectKey
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.retention.apply import apply_retention
from vault.retention.contract import create_tenant, end_service
from vault.retention.plan import make_plan
from vault.verify.online import verify_item

DEPOSIT = dt.datetime(2024, 6, 1, 10, 0, tzinfo=dt.UTC)
ENDED = dt.date(2025, 1, 1)
OPERATIONAL_END = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)  # end of 2025-01-01 + 12 months
PROOF_END = dt.datetime(2039, 6, 1, 10, 0, tzinfo=dt.UTC)  # deposit + 15 years

#: the seed's table: purpose -> (kind deposited, expected rule)
SEED_TABLE = {
    Purpose.USE_SERVICE: ("session_log", "12 months after end of service"),
    Purpose.TRANSACTION_PROOF: ("transaction_proof", "contract proof period (15-99 years after deposit)"),
    Purpose.INFORMATION_REQUEST: ("request", "12 months after end of service"),
    Purpose.REQUEST_HANDLING: ("request", "12 months after end of service"),
    Purpose.SUPPORT: ("session_recording", "12 months after end of service"),
    Purpose.SERVICE_IMPROVEMENT: ("session_log", "12 months after end of service"),
    Purpose.PERSONALIZATION: ("session_log", "12 months after end of service"),
}


@pytest.fixture
def drill_ctx(settings: Settings) -> Iterator[VaultContext]:
    c = open_ctx(replace(settings, drill_lock_seconds=1.0))
    c.clock = FixedClock(DEPOSIT)
    yield c
    c.close()


def test_each_rule_of_the_seed_table(drill_ctx: VaultContext) -> None:
    ctx = drill_ctx
    clock = ctx.clock
    assert isinstance(clock, FixedClock)
    create_tenant(ctx, "acme", 15)
    ids: dict[Purpose, str] = {}
    for purpose, (kind, _rule) in SEED_TABLE.items():
        req = validate(tenant="acme", session="s1", kind=kind, purpose=purpose.value, subject="alice")
        ids[purpose] = deposit_stream(ctx, io.BytesIO(f"payload for {purpose}".encode()), req).item_id
    assert seal_pending(ctx)

    def plan_at(at: dt.datetime) -> tuple[dict[str, str], dict[str, str]]:
        p = make_plan(ctx, at)
        return {d.item.id: d.rule for d, _ in p.due}, {k.item.id: k.reason for k, _ in p.kept}

    # service not ended: nothing due, however late
    due, kept = plan_at(dt.datetime(2060, 1, 1, tzinfo=dt.UTC))
    assert due == {ids[Purpose.TRANSACTION_PROOF]: SEED_TABLE[Purpose.TRANSACTION_PROOF][1]}
    assert all("service has not ended" in kept[ids[p]] for p in SEED_TABLE if p is not Purpose.TRANSACTION_PROOF)

    clock.at = dt.datetime(2025, 1, 2, 9, 0, tzinfo=dt.UTC)
    end_service(ctx, "acme", ENDED)
    operational = {p for p in SEED_TABLE if p is not Purpose.TRANSACTION_PROOF}
    due, kept = plan_at(OPERATIONAL_END - dt.timedelta(seconds=1))
    assert due == {}
    due, kept = plan_at(OPERATIONAL_END)
    assert due == {ids[p]: SEED_TABLE[p][1] for p in operational}
    assert set(kept) == {ids[Purpose.TRANSACTION_PROOF]}

    time.sleep(2.6)  # the drill locks end on a whole second at most 2 s after the last write
    clock.at = OPERATIONAL_END + dt.timedelta(hours=1)
    run = apply_retention(ctx)
    assert run.failed == []
    assert {d["id"]: d["rule"] for d in run.destroyed} == {ids[p]: SEED_TABLE[p][1] for p in operational}
    for p in operational:
        report = verify_item(ctx, ids[p])
        assert report.status == "destroyed" and report.destroyed_rule == SEED_TABLE[p][1]
    assert verify_item(ctx, ids[Purpose.TRANSACTION_PROOF]).status == "valid"
    with ctx.sessions() as s:  # one key per purpose: the six operational ones are gone, the proof's is not
        keys = {k.scope: k.wrapped_key is not None for k in s.scalars(select(SubjectKey)).all()}
    assert keys == {p.value: p is Purpose.TRANSACTION_PROOF for p in SEED_TABLE}

    due, kept = plan_at(PROOF_END - dt.timedelta(seconds=1))
    assert due == {}
    clock.at = PROOF_END
    run = apply_retention(ctx)
    assert [d["id"] for d in run.destroyed] == [ids[Purpose.TRANSACTION_PROOF]]
    with ctx.sessions() as s:
        states = set(s.scalars(select(Item.disposal)).all())
    assert states == {"destroyed"}


def test_end_of_service_recorded_late_needs_no_lock_extension(drill_ctx: VaultContext, settings: Settings) -> None:
    """In real time: data locked a year after receipt, end of service recorded long after
    the 12 months following it have passed. Its locks ended already, so nothing is extended
    (a store refuses past dates) and the data is simply due."""
    create_tenant(drill_ctx, "acme")
    req = validate(tenant="acme", session="s1", kind="session_log", subject="alice")
    item_id = deposit_stream(drill_ctx, io.BytesIO(b"old log"), req).item_id
    seal_pending(drill_ctx)
    time.sleep(2.1)  # its real (drill) lock ends, as a 2024 lock would have by now

    real = open_ctx(settings)  # no drill from here: real time, real dates
    try:
        info = end_service(real, "acme", ENDED)
        assert (info.items_extended, info.objects_extended) == (1, 1)  # the index moved; the store had nothing to do
        with real.sessions() as s:
            assert s.scalars(select(Item.retain_until).where(Item.id == item_id)).one() == OPERATIONAL_END
        run = apply_retention(real)
        assert [d["id"] for d in run.destroyed] == [item_id] and run.failed == []
    finally:
        real.close()


def test_a_tampered_or_missing_destruction_record_makes_a_destroyed_item_invalid(drill_ctx: VaultContext) -> None:
    from vault.index.models import JournalEntry

    ctx = drill_ctx
    clock = ctx.clock
    assert isinstance(clock, FixedClock)
    create_tenant(ctx, "acme")
    req = validate(tenant="acme", session="s1", kind="session_log", subject="alice")
    item_id = deposit_stream(ctx, io.BytesIO(b"log"), req).item_id
    seal_pending(ctx)
    clock.at = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)
    end_service(ctx, "acme", ENDED)
    time.sleep(2.6)
    clock.at = OPERATIONAL_END
    assert [d["id"] for d in apply_retention(ctx).destroyed] == [item_id]
    assert verify_item(ctx, item_id).status == "destroyed"

    with ctx.sessions() as s:  # the record is edited to claim another rule
        entry = s.scalars(select(JournalEntry).where(JournalEntry.action == "destroy")).one()
        original = entry.body
        entry.body = original.replace(b"12 months after end of service", b"erasure on request (GDPR art. 17)")
        s.commit()
    report = verify_item(ctx, item_id)
    assert report.status == "invalid" and [c.name for c in report.failed] == ["destruction_record"]

    with ctx.sessions() as s:  # ...or removed
        s.delete(s.scalars(select(JournalEntry).where(JournalEntry.action == "destroy")).one())
        s.commit()
    report = verify_item(ctx, item_id)
    assert report.status == "invalid" and "no destruction record" in report.failed[0].detail


def test_malformed_dates_and_unknown_tenants_are_one_line_errors(ctx: VaultContext, settings: Settings) -> None:
    from conftest import run_cli

    for args in (
        ("retention", "plan", "--at", "2026-13-01"),
        ("tenant", "end-service", "acme", "--date", "yesterday"),
        ("tenant", "create", "acme", "--proof-years", "14"),
        ("tenant", "end-service", "nobody", "--date", "2025-01-01"),
        ("hold", "add", "--tenant", "nobody", "--case", "RG-1"),
        ("subject", "erase", "alice", "--tenant", "nobody"),
    ):
        r = run_cli(settings, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.decode().startswith("error:") and len(r.stderr.decode().strip().splitlines()) == 1, r.stderr
