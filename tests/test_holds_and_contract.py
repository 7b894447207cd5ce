"""Legal holds, tenant contracts and the intermediate archive through the library, against
the real SeaweedFS (Object Lock, legal holds) and TSA; the vault's clock is a FixedClock and,
where a lock must expire, object locks last a few real seconds (drill_lock_seconds)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from conftest import open_ctx, with_settings
from vault.access.principal import Principal, Role
from vault.batch.sealer import seal_pending
from vault.clock import FixedClock
from vault.config import Settings
from vault.context import VaultContext
from vault.errors import Conflict, Forbidden, InputError, NotFound
from vault.index.models import Hold, Segment, Tenant
from vault.ingest.common import validate
from vault.ingest.records import deposit_records
from vault.privacy.reading import check_read, view_item
from vault.retention.apply import apply_retention
from vault.retention.archive import request_archive
from vault.retention.contract import create_tenant, end_service, set_proof_years, tenant_info
from vault.retention.holds import add_hold, list_holds, release_hold
from vault.retention.plan import make_plan
from vault.retention.policy import end_of_day
from vault.retention.rules import add_months
from vault_support import DRILL, count, item, journal, put_file, rec, wait_for_drill_locks

T0 = dt.datetime(2024, 6, 1, 10, 0, tzinfo=dt.UTC)

OPERATOR = Principal("op@acme", Role.OPERATOR)
LEGAL = Principal("legal@acme", Role.LEGAL)
DPO = Principal("dpo@acme", Role.DPO)


@pytest.fixture
def vctx(settings: Settings) -> Iterator[VaultContext]:
    """A context at T0 whose object locks last DRILL real seconds."""
    c = open_ctx(with_settings(settings, drill_lock_seconds=DRILL))
    c.clock = FixedClock(T0)
    create_tenant(c, "acme")
    yield c
    c.close()


@pytest.fixture
def now_ctx(ctx: VaultContext) -> VaultContext:
    """Real Object Lock dates (no drill), the vault's clock fixed at the real now."""
    ctx.clock = FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    return ctx


def held(ctx: VaultContext, item_id: str) -> list[bool]:
    """The S3 legal hold of every version of the item's object, then of its manifest."""
    key = item(ctx, item_id).object_key
    return [ctx.store.legal_hold(k, v) for k in (key, key + ".manifest.json") for v, _ in ctx.store.versions(k)]


def s3_retention(ctx: VaultContext, item_id: str) -> list[tuple[str, dt.datetime]]:
    key = item(ctx, item_id).object_key
    out = []
    for k in (key, key + ".manifest.json"):
        for v, _ in ctx.store.versions(k):
            r = ctx.store.client.get_object_retention(Bucket=ctx.store.bucket, Key=k, VersionId=v)["Retention"]
            out.append((str(r["Mode"]), r["RetainUntilDate"]))
    return out


# -- legal holds ------------------------------------------------------------------------------
def test_hold_requests_with_a_wrong_scope_are_refused_and_write_nothing(vctx: VaultContext) -> None:
    cm = rec(vctx, "alice", {"ip": "203.0.113.7"}, session="s1")
    beta_cm = rec(vctx, "alice", {"ip": "203.0.113.8"}, tenant="beta")
    with pytest.raises(NotFound, match="no such tenant"):
        add_hold(vctx, tenant="nobody", case="RG-1")
    with pytest.raises(NotFound, match="no such item in this tenant"):
        add_hold(vctx, tenant="acme", item=beta_cm, case="RG-1")
    with pytest.raises(NotFound, match="no such item in this tenant"):
        add_hold(vctx, tenant="acme", item="ev_does_not_exist", case="RG-1")
    with pytest.raises(InputError) as e:
        add_hold(vctx, tenant="acme", session="s2", item=cm, case="RG-1")
    assert e.value.message == "the item is not in that session" and e.value.detail == f"{cm} is in s1"
    for case in ("", "   ", "x" * 201):
        with pytest.raises(InputError, match="case reference"):
            add_hold(vctx, tenant="acme", session="s1", case=case)
    with pytest.raises(InputError, match="invalid session"):
        add_hold(vctx, tenant="acme", session="s 1", case="RG-1")
    assert count(vctx, Hold) == 0 and journal(vctx, "hold_add") == []
    assert held(vctx, cm) == [False, False]


def test_store_reports_no_legal_hold_on_a_version_never_held(vctx: VaultContext) -> None:
    it = item(vctx, put_file(vctx, "alice", b"log"))
    assert it.version_id is not None
    assert vctx.store.legal_hold(it.object_key, it.version_id) is False


def test_a_hold_sets_the_s3_legal_hold_and_placing_it_again_is_idempotent(vctx: VaultContext) -> None:
    log = put_file(vctx, "alice", b"log", session="s1")
    cm = rec(vctx, "alice", {"ip": "203.0.113.7"}, session="s1")
    other = rec(vctx, "bob", {"ip": "203.0.113.8"}, session="s2")
    first = add_hold(vctx, tenant="acme", session="s1", case="RG-2026-042")
    assert (first.created, first.items, first.object_versions, first.item) == (True, 2, 4, None)
    assert held(vctx, log) == [True, True] and held(vctx, cm) == [True, True]
    assert held(vctx, other) == [False, False]

    again = add_hold(vctx, tenant="acme", session="s1", case="RG-2026-042")
    assert (again.created, again.hold_id, again.items, again.object_versions) == (False, first.hold_id, 2, 4)
    assert count(vctx, Hold) == 1 and len(journal(vctx, "hold_add")) == 1
    [h] = list_holds(vctx, tenant="acme")
    assert (h["id"], h["session"], h["case"], h["released_at"]) == (first.hold_id, "s1", "RG-2026-042", None)

    # new data for the held session is held from its first PUT; other sessions are not
    later_log = put_file(vctx, "alice", b"later log", session="s1")
    later_cm = rec(vctx, "alice", {"ip": "203.0.113.9"}, session="s1")
    elsewhere = put_file(vctx, "alice", b"other session", session="s3")
    assert held(vctx, later_log) == [True, True] and held(vctx, later_cm) == [True, True]
    assert held(vctx, elsewhere) == [False, False]
    # an item-level hold holds that item, not what later arrives in its session
    add_hold(vctx, tenant="acme", item=elsewhere, case="RG-7")
    assert held(vctx, elsewhere) == [True, True]
    assert held(vctx, put_file(vctx, "alice", b"after item hold", session="s3")) == [False, False]
    # a tenant-wide hold holds every new deposit of the tenant
    add_hold(vctx, tenant="acme", case="RG-ALL")
    assert held(vctx, put_file(vctx, "carol", b"anywhere", session="s9")) == [True, True]
    assert held(vctx, put_file(vctx, "carol", b"other tenant", tenant="beta", session="s9")) == [False, False]


def test_a_hold_placed_while_a_deposit_is_in_flight_still_reaches_its_objects(
    vctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vault.ingest.files

    def place_hold(name: str) -> None:  # another process places the hold meanwhile
        add_hold(vctx, tenant="acme", session="s1", case="RG-race")

    monkeypatch.setattr(vault.ingest.files, "fault_point", place_hold)
    log = put_file(vctx, "alice", b"log", session="s1")
    monkeypatch.undo()
    assert held(vctx, log) == [True, True]


def test_releasing_one_of_two_overlapping_holds_keeps_the_s3_legal_hold(vctx: VaultContext) -> None:
    log = put_file(vctx, "alice", b"log", session="s1")
    cm = rec(vctx, "alice", {"ip": "203.0.113.7"}, session="s1")
    with pytest.raises(NotFound, match="no active hold"):
        release_hold(vctx, tenant="acme", session="s1", case="RG-1")
    session_hold = add_hold(vctx, tenant="acme", session="s1", case="RG-1")
    item_hold = add_hold(vctx, tenant="acme", item=log, case="RG-2")
    assert (item_hold.items, item_hold.object_versions) == (1, 2)
    with pytest.raises(NotFound, match="no active hold"):
        release_hold(vctx, tenant="acme", session="s1", case="RG-other")

    r = release_hold(vctx, tenant="acme", session="s1", case="RG-1")
    assert (r.hold_id, r.items, r.object_versions, r.created) == (session_hold.hold_id, 2, 2, False)
    assert held(vctx, log) == [True, True]  # RG-2 still covers it
    assert held(vctx, cm) == [False, False]
    r2 = release_hold(vctx, tenant="acme", item=log, case="RG-2")
    assert (r2.hold_id, r2.items, r2.object_versions) == (item_hold.hold_id, 1, 2)
    assert held(vctx, log) == [False, False]
    with pytest.raises(NotFound, match="no active hold"):
        release_hold(vctx, tenant="acme", item=log, case="RG-2")  # released already
    assert list_holds(vctx, tenant="acme") == []
    assert [h["released_at"] for h in list_holds(vctx, tenant="acme", active_only=False)] == [
        "2024-06-01T10:00:00.000000Z"
    ] * 2
    assert [e["details"]["case"] for e in journal(vctx, "hold_release")] == ["RG-1", "RG-2"]


def test_an_item_hold_on_a_record_keeps_its_whole_segment(vctx: VaultContext) -> None:
    req_a = validate(tenant="acme", session="s1", kind="connection_metadata", subject="alice")
    req_b = validate(tenant="acme", session="s2", kind="connection_metadata", subject="bob")
    a, b = (r.item_id for r in deposit_records(vctx, [(req_a, {"ip": "203.0.113.7"}), (req_b, {"ip": "1.2.3.4"})]))
    segment = item(vctx, a).segment_id
    assert segment is not None and item(vctx, b).segment_id == segment
    seal_pending(vctx)
    h = add_hold(vctx, tenant="acme", item=a, case="RG-7")
    assert (h.items, h.object_versions) == (1, 2)
    end_service(vctx, "acme", dt.date(2024, 6, 1))

    at = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)  # both are past their 12 months
    plan = make_plan(vctx, at).as_json()
    assert plan["due"] == []
    kept = {k["id"]: k for k in plan["kept"]}
    assert (kept[a]["reason"], kept[a]["hold"]) == ("legal hold: case RG-7", "RG-7")
    assert kept[b]["reason"] == f"due, but shares segment {segment} with {a}, kept: legal hold: case RG-7"
    assert kept[b]["hold"] == "RG-7" and kept[b]["retain_until"] == "2025-06-02T00:00:00.000000Z"

    release_hold(vctx, tenant="acme", item=a, case="RG-7")
    due = make_plan(vctx, at).as_json()["due"]
    assert [(d["id"], d["action"]) for d in due] == [(a, "destroy"), (b, "destroy")]


# -- tenant contracts -------------------------------------------------------------------------
def test_tenant_create_is_idempotent_and_checks_the_proof_period(ctx: VaultContext) -> None:
    first = create_tenant(ctx, "acme", 20)
    assert (first.created, first.proof_years, first.service_ended_on) == (True, 20, None)
    assert create_tenant(ctx, "acme", 20).as_json() == {
        "tenant": "acme",
        "proof_years": 20,
        "service_ended_on": None,
        "created": False,
        "items_extended": 0,
        "objects_extended": 0,
    }
    assert create_tenant(ctx, "acme").proof_years == 20  # no years given: whatever the contract says
    with pytest.raises(Conflict) as e:
        create_tenant(ctx, "acme", 25)
    assert e.value.message == "tenant 'acme' exists with a proof retention of 20 years"
    for years in (14, 100, 0, -15):
        with pytest.raises(InputError, match="between 15 and 99 years"):
            create_tenant(ctx, "beta", years)
    with pytest.raises(InputError, match="invalid tenant"):
        create_tenant(ctx, "bad tenant", 20)
    assert create_tenant(ctx, "edge", 99).proof_years == 99 and create_tenant(ctx, "low", 15).proof_years == 15
    with ctx.sessions() as s:
        assert s.get(Tenant, "beta") is None
        assert s.get(Tenant, "acme").proof_years == 20  # type: ignore[union-attr]
    assert [e["tenant"] for e in journal(ctx, "tenant_create")] == ["acme", "edge", "low"]


def test_end_service_refuses_the_future_and_earlier_dates_and_is_a_no_op_when_repeated(vctx: VaultContext) -> None:
    cm = rec(vctx, "alice", {"ip": "203.0.113.7"})
    with pytest.raises(InputError, match="in the future"):
        end_service(vctx, "acme", dt.date(2024, 6, 2))
    with pytest.raises(NotFound, match="no such tenant"):
        end_service(vctx, "nobody", dt.date(2024, 6, 1))
    assert tenant_info(vctx, "acme").service_ended_on is None

    info = end_service(vctx, "acme", dt.date(2024, 6, 1))  # today (the vault's clock) is fine
    assert (info.service_ended_on, info.items_extended, info.objects_extended) == (dt.date(2024, 6, 1), 1, 1)
    assert item(vctx, cm).retain_until == dt.datetime(2025, 6, 2, tzinfo=dt.UTC)
    with pytest.raises(Conflict) as e:
        end_service(vctx, "acme", dt.date(2024, 5, 31))
    assert e.value.message == "the end of service is already recorded on 2024-06-01"
    again = end_service(vctx, "acme", dt.date(2024, 6, 1))
    assert (again.items_extended, again.objects_extended) == (0, 0)
    assert [e["details"] for e in journal(vctx, "end_service")] == [{"ended_on": "2024-06-01", "previous": None}]
    assert len(journal(vctx, "retention_extended")) == 1
    # a later date moves the dates again
    vctx.clock = FixedClock(dt.datetime(2024, 9, 1, tzinfo=dt.UTC))
    later = end_service(vctx, "acme", dt.date(2024, 8, 31))
    assert (later.items_extended, item(vctx, cm).retain_until) == (1, dt.datetime(2025, 9, 1, tzinfo=dt.UTC))
    assert journal(vctx, "end_service")[-1]["details"] == {"ended_on": "2024-08-31", "previous": "2024-06-01"}


def test_end_service_extends_the_index_and_the_s3_lock_of_every_version(now_ctx: VaultContext) -> None:
    ctx = now_ctx
    now = ctx.now()
    create_tenant(ctx, "acme", 15)
    cm = rec(ctx, "alice", {"ip": "203.0.113.7"})
    log = put_file(ctx, "alice", b"log")
    tp = put_file(ctx, "alice", b"proof", kind="transaction_proof")
    lower = add_months(now, 12)  # the service goes on: at least 12 months after the deposit
    proof_until = add_months(now, 12 * 15)
    assert item(ctx, cm).retain_until == item(ctx, log).retain_until == lower
    assert s3_retention(ctx, cm) == s3_retention(ctx, log) == [("COMPLIANCE", lower)] * 2

    info = end_service(ctx, "acme", now.date())
    new = add_months(end_of_day(now.date()), 12)
    assert new > lower
    assert (info.items_extended, info.objects_extended) == (2, 2)
    for i in (cm, log):
        assert item(ctx, i).retain_until == new
        assert s3_retention(ctx, i) == [("COMPLIANCE", new)] * 2
    with ctx.sessions() as s:
        seg = s.get(Segment, item(ctx, cm).segment_id)
        assert seg is not None and seg.retain_until == new
    # the proof's date does not depend on the end of service
    assert item(ctx, tp).retain_until == proof_until
    assert s3_retention(ctx, tp) == [("COMPLIANCE", proof_until)] * 2
    [ext] = journal(ctx, "retention_extended")
    assert ext["details"] == {"items": 2, "objects": 2, "latest": new.isoformat().replace("+00:00", ".000000Z")}


def test_set_proof_years_only_grows_and_extends_the_proofs(now_ctx: VaultContext) -> None:
    ctx = now_ctx
    now = ctx.now()
    create_tenant(ctx, "acme", 15)
    tp = put_file(ctx, "alice", b"proof", kind="transaction_proof")
    cm = rec(ctx, "alice", {"ip": "203.0.113.7"})
    assert s3_retention(ctx, tp) == [("COMPLIANCE", add_months(now, 180))] * 2
    for years in (14, 100):
        with pytest.raises(InputError, match="between 15 and 99 years"):
            set_proof_years(ctx, "acme", years)

    info = set_proof_years(ctx, "acme", 20)
    assert (info.proof_years, info.items_extended, info.objects_extended) == (20, 1, 1)
    assert item(ctx, tp).retain_until == add_months(now, 240)
    assert s3_retention(ctx, tp) == [("COMPLIANCE", add_months(now, 240))] * 2
    assert item(ctx, cm).retain_until == add_months(now, 12)  # operational data is not a proof
    with pytest.raises(Conflict) as e:
        set_proof_years(ctx, "acme", 18)
    assert e.value.message == "the proof retention is 20 years"
    same = set_proof_years(ctx, "acme", 20)
    assert (same.items_extended, same.objects_extended) == (0, 0)
    assert tenant_info(ctx, "acme").proof_years == 20
    assert [e["details"] for e in journal(ctx, "set_proof_years")] == [{"years": 20, "previous": 15}]
    with pytest.raises(NotFound):
        set_proof_years(ctx, "nobody", 20)


# -- intermediate archive ---------------------------------------------------------------------
def test_archive_after_the_active_period_restricts_reads_then_destroys(vctx: VaultContext) -> None:
    log = put_file(vctx, "alice", b"alice's log", meta={"device": "laptop-7"})
    si = rec(vctx, "bob", {"ip": "203.0.113.8"}, session="s2", purpose="service_improvement")  # no archive
    seal_pending(vctx)

    with pytest.raises(Forbidden, match="restricted to the dpo and legal roles"):
        request_archive(vctx, tenant="acme", who=OPERATOR)
    r = request_archive(vctx, tenant="acme", who=LEGAL)
    assert r["accepted"] == []
    assert r["refused"] == [
        {"id": log, "reason": "its active period has no end yet (service not ended)"},
        {"id": si, "reason": "its active period has no end yet (service not ended)"},
    ]
    assert item(vctx, log).archive_until is None
    with pytest.raises(NotFound):
        request_archive(vctx, tenant="nobody", who=LEGAL)

    end_service(vctx, "acme", dt.date(2024, 6, 1))
    r = request_archive(vctx, tenant="acme", who=DPO)
    assert r["accepted"] == [
        {"id": log, "active_until": "2025-06-02T00:00:00.000000Z", "archive_until": "2030-06-02T00:00:00.000000Z"}
    ]
    assert r["refused"] == [{"id": si, "reason": "the policy allows no archive for service_improvement"}]
    [req] = journal(vctx, "archive_request")[-1:]
    assert req["role"] == "dpo" and req["details"]["accepted"] == [log]

    vctx.clock = FixedClock(dt.datetime(2025, 6, 3, tzinfo=dt.UTC))
    wait_for_drill_locks()
    run = apply_retention(vctx, who=OPERATOR)
    assert run.failed == []
    assert run.archived == [{"id": log, "archive_until": "2030-06-02T00:00:00.000000Z", "tier": "recorded"}]
    assert [d["id"] for d in run.destroyed] == [si]
    it = item(vctx, log)
    assert (it.disposal, it.storage_tier, it.disposed_at) == ("archived", "recorded", vctx.now())
    assert [m for _, m in vctx.store.versions(it.object_key)] == [False]
    with pytest.raises(Forbidden, match="intermediate archive"):
        check_read(vctx, it, OPERATOR)
    for who in (LEGAL, DPO):
        check_read(vctx, it, who)
    assert view_item(vctx, it).fields == {"device": "laptop-7", "subject": "alice"}
    kept = {k["id"]: k for k in make_plan(vctx, dt.datetime(2030, 6, 1, tzinfo=dt.UTC)).as_json()["kept"]}
    assert kept[log]["reason"] == "intermediate archive (restricted to legal and DPO roles)"
    assert kept[log]["retain_until"] == "2030-06-02T00:00:00.000000Z"
    assert request_archive(vctx, tenant="acme", item=log, who=LEGAL)["refused"] == [
        {"id": log, "reason": "already archived"}
    ]

    vctx.clock = FixedClock(dt.datetime(2030, 6, 3, tzinfo=dt.UTC))
    wait_for_drill_locks()
    run = apply_retention(vctx, seal=False, who=OPERATOR)  # the vault's clock is past the TSA's: do not seal in 2030
    assert [(d["id"], d["rule"]) for d in run.destroyed] == [
        (log, "12 months after end of service, then intermediate archive")
    ]
    assert run.failed == [] and run.keys_destroyed == 1
    assert vctx.store.versions(it.object_key) == [] and vctx.store.versions(it.object_key + ".manifest.json") == []
    assert item(vctx, log).disposal == "destroyed"
