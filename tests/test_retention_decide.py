"""What happens to an item at a given instant (vault.retention.decide): pure decisions from facts.

No clock is read: every decision takes the instant ``at``, so each test picks it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from vault.errors import InputError
from vault.retention.decide import (
    ARCHIVE_REFUSAL,
    Action,
    Due,
    HoldFacts,
    ItemFacts,
    Kept,
    Refusal,
    archive_until,
    decide,
    erasure,
    holds_on,
    retain_until,
)
from vault.retention.policy import Policy, load_policy

UTC = dt.UTC
SECOND = dt.timedelta(seconds=1)


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


POLICY: Policy = load_policy()
RECEIVED = at(2025, 3, 10, 14, 30)
ENDED = dt.date(2025, 6, 30)
#: 12 months after the end of 30 June 2025 (the whole last day counts)
OPERATIONAL_UNTIL = at(2026, 7, 1)
#: what was locked at deposit, before the end of service was known: received + 12 months
LOWER_BOUND = at(2026, 3, 10, 14, 30)
PROOF_15 = at(2040, 3, 10, 14, 30)
PROOF_99 = at(2124, 3, 10, 14, 30)
OPERATIONAL_REASON = "12 months after end of service (support)"
PROOF_NAME = "contract proof period (15-99 years after deposit)"


def operational(**changes: Any) -> ItemFacts:
    base = ItemFacts(
        id="item-1",
        tenant="acme",
        session="sess-1",
        purpose="support",
        sealed=True,
        disposal=None,
        received_at=RECEIVED,
        committed_until=LOWER_BOUND,
        archive_until=None,
        proof_years=15,
        service_ended_on=ENDED,
    )
    return replace(base, **changes)


def proof(years: int = 15, **changes: Any) -> ItemFacts:
    base = operational(
        purpose="transaction_proof",
        proof_years=years,
        committed_until=RECEIVED.replace(year=RECEIVED.year + years),
        service_ended_on=None,
    )
    return replace(base, **changes)


def hold(
    case: str = "CASE-1", *, tenant: str = "acme", session: str | None = None, item_id: str | None = None
) -> HoldFacts:
    return HoldFacts(id=1, tenant=tenant, session=session, item_id=item_id, case_ref=case)


# -- operational items -------------------------------------------------------------------------


def test_operational_item_kept_one_second_before_and_due_at_the_instant() -> None:
    item = operational()
    assert decide(POLICY, item, [], OPERATIONAL_UNTIL - SECOND) == Kept(item, OPERATIONAL_REASON, OPERATIONAL_UNTIL)
    assert decide(POLICY, item, [], OPERATIONAL_UNTIL) == Due(
        item, Action.DESTROY, "12 months after end of service", OPERATIONAL_UNTIL
    )
    assert decide(POLICY, item, [], at(2030, 1, 1)) == Due(
        item, Action.DESTROY, "12 months after end of service", OPERATIONAL_UNTIL
    )


@pytest.mark.parametrize(
    "purpose",
    ["use_service", "information_request", "request_handling", "support", "service_improvement", "personalization"],
)
def test_every_operational_purpose_has_the_same_date(purpose: str) -> None:
    item = operational(purpose=purpose)
    got = decide(POLICY, item, [], OPERATIONAL_UNTIL - SECOND)
    assert got == Kept(item, f"12 months after end of service ({purpose})", OPERATIONAL_UNTIL)
    assert isinstance(decide(POLICY, item, [], OPERATIONAL_UNTIL), Due)


def test_service_ended_on_the_day_of_receipt() -> None:
    item = operational(service_ended_on=dt.date(2025, 3, 10))
    assert isinstance(decide(POLICY, item, [], at(2026, 3, 10, 23, 59, 59)), Kept)
    got = decide(POLICY, item, [], at(2026, 3, 11))
    assert got == Due(item, Action.DESTROY, "12 months after end of service", at(2026, 3, 11))


def test_service_ended_before_receipt_counts_from_receipt() -> None:
    item = operational(service_ended_on=dt.date(2024, 1, 1))
    assert decide(POLICY, item, [], LOWER_BOUND - SECOND) == Kept(item, OPERATIONAL_REASON, LOWER_BOUND)
    assert decide(POLICY, item, [], LOWER_BOUND) == Due(
        item, Action.DESTROY, "12 months after end of service", LOWER_BOUND
    )


@pytest.mark.parametrize("when", [RECEIVED, LOWER_BOUND, OPERATIONAL_UNTIL, at(2125, 1, 1)])
def test_operational_item_kept_while_the_service_has_not_ended(when: dt.datetime) -> None:
    item = operational(service_ended_on=None)
    got = decide(POLICY, item, [], when)
    assert got == Kept(
        item,
        "12 months after end of service: the service has not ended",
        None,
        at_least=LOWER_BOUND,
    )
    assert isinstance(got, Kept)
    assert "service has not ended" in got.reason
    assert got.retain_until is None
    assert got.at_least == LOWER_BOUND
    assert got.hold is None


# -- proof items -------------------------------------------------------------------------------


@pytest.mark.parametrize(("years", "until"), [(15, PROOF_15), (99, PROOF_99)])
def test_proof_item_kept_its_contract_years_then_due(years: int, until: dt.datetime) -> None:
    item = proof(years)
    assert item.committed_until == until
    kept = Kept(item, f"{PROOF_NAME} (transaction_proof)", until)
    assert decide(POLICY, item, [], RECEIVED) == kept
    assert decide(POLICY, item, [], until - SECOND) == kept
    assert decide(POLICY, item, [], until) == Due(item, Action.DESTROY, PROOF_NAME, until)


def test_proof_item_ignores_the_end_of_service() -> None:
    item = proof(15, service_ended_on=dt.date(2025, 3, 31))
    assert decide(POLICY, item, [], OPERATIONAL_UNTIL) == Kept(item, f"{PROOF_NAME} (transaction_proof)", PROOF_15)


def test_proof_item_with_out_of_range_years_is_refused() -> None:
    with pytest.raises(InputError):
        decide(POLICY, proof(14, committed_until=PROOF_15), [], PROOF_15)


# -- legal holds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "h",
    [
        hold("CASE-T"),
        hold("CASE-T", session="sess-1"),
        hold("CASE-T", item_id="item-1"),
        hold("CASE-T", session="sess-other", item_id="item-1"),  # an item hold names the item only
    ],
    ids=["tenant", "session", "item", "item-in-other-session"],
)
def test_hold_keeps_a_due_item(h: HoldFacts) -> None:
    item = operational()
    when = at(2030, 1, 1)
    got = decide(POLICY, item, [h], when)
    assert got == Kept(item, "legal hold: case CASE-T", OPERATIONAL_UNTIL, hold="CASE-T")
    assert isinstance(got, Kept)
    assert "legal hold" in got.reason
    assert holds_on(item, [h]) == [h]


@pytest.mark.parametrize(
    "h",
    [
        hold("CASE-X", tenant="other"),
        hold("CASE-X", tenant="other", session="sess-1"),
        hold("CASE-X", tenant="other", item_id="item-1"),
        hold("CASE-X", session="sess-2"),
        hold("CASE-X", item_id="item-2"),
        hold("CASE-X", session="sess-1", item_id="item-2"),
    ],
    ids=[
        "other-tenant",
        "other-tenant-same-session",
        "other-tenant-same-item",
        "other-session",
        "other-item",
        "other-item-same-session",
    ],
)
def test_hold_elsewhere_does_not_keep_the_item(h: HoldFacts) -> None:
    item = operational()
    assert holds_on(item, [h]) == []
    got = decide(POLICY, item, [h], OPERATIONAL_UNTIL)
    assert got == Due(item, Action.DESTROY, "12 months after end of service", OPERATIONAL_UNTIL)


def test_several_holds_are_named_once_each_in_order() -> None:
    item = operational()
    holds = [hold("CASE-B"), hold("CASE-A", session="sess-1"), hold("CASE-B", item_id="item-1"), hold("Z", tenant="x")]
    got = decide(POLICY, item, holds, at(2030, 1, 1))
    assert got == Kept(item, "legal hold: case CASE-A, CASE-B", OPERATIONAL_UNTIL, hold="CASE-A, CASE-B")


def test_hold_on_an_item_whose_service_goes_on() -> None:
    item = operational(service_ended_on=None)
    got = decide(POLICY, item, [hold()], at(2030, 1, 1))
    assert got == Kept(item, "legal hold: case CASE-1", None, hold="CASE-1")


def test_hold_keeps_erased_and_archived_items() -> None:
    erased = operational(disposal="erased")
    assert decide(POLICY, erased, [hold()], at(2030, 1, 1)) == Kept(
        erased, "legal hold: case CASE-1", OPERATIONAL_UNTIL, hold="CASE-1"
    )
    archived = operational(disposal="archived", archive_until=at(2031, 7, 1))
    assert decide(POLICY, archived, [hold()], at(2040, 1, 1)) == Kept(
        archived, "legal hold: case CASE-1", OPERATIONAL_UNTIL, hold="CASE-1"
    )


def test_hold_does_not_bring_back_a_destroyed_item() -> None:
    assert decide(POLICY, operational(disposal="destroyed"), [hold()], at(2030, 1, 1)) is None


# -- sealing, disposal -------------------------------------------------------------------------


def test_unsealed_item_past_its_date_is_kept() -> None:
    item = operational(sealed=False)
    got = decide(POLICY, item, [], OPERATIONAL_UNTIL)
    assert got == Kept(
        item, "retention ended, but the item is not sealed yet: destroyed after sealing", OPERATIONAL_UNTIL
    )
    assert isinstance(got, Kept) and "not sealed" in got.reason
    # before its date the usual reason applies
    assert decide(POLICY, item, [], OPERATIONAL_UNTIL - SECOND) == Kept(item, OPERATIONAL_REASON, OPERATIONAL_UNTIL)


def test_unsealed_item_with_an_archive_is_not_archived_either() -> None:
    item = operational(sealed=False, archive_until=at(2031, 7, 1))
    got = decide(POLICY, item, [], OPERATIONAL_UNTIL)
    assert isinstance(got, Kept) and "not sealed" in got.reason


@pytest.mark.parametrize("when", [RECEIVED, OPERATIONAL_UNTIL, at(2200, 1, 1)])
def test_destroyed_item_is_gone(when: dt.datetime) -> None:
    assert decide(POLICY, operational(disposal="destroyed"), [], when) is None
    assert decide(POLICY, proof(disposal="destroyed"), [], when) is None


def test_erased_item_bytes_deleted_once_the_lock_expires() -> None:
    # the service goes on: the lock is the lower bound committed at deposit
    item = operational(disposal="erased", service_ended_on=None)
    kept = Kept(item, "erased on request: key destroyed, bytes locked until the date shown", LOWER_BOUND)
    assert decide(POLICY, item, [], LOWER_BOUND - SECOND) == kept
    due = Due(item, Action.DELETE_OBJECTS, "erased on request (GDPR art. 17); lock expired", LOWER_BOUND)
    assert decide(POLICY, item, [], LOWER_BOUND) == due
    assert decide(POLICY, item, [], at(2027, 1, 1)) == due


def test_erased_item_after_end_of_service_waits_for_the_extended_lock() -> None:
    item = operational(disposal="erased", committed_until=OPERATIONAL_UNTIL)
    got = decide(POLICY, item, [], OPERATIONAL_UNTIL - SECOND)
    assert got == Kept(item, "erased on request: key destroyed, bytes locked until the date shown", OPERATIONAL_UNTIL)
    assert decide(POLICY, item, [], OPERATIONAL_UNTIL) == Due(
        item, Action.DELETE_OBJECTS, "erased on request (GDPR art. 17); lock expired", OPERATIONAL_UNTIL
    )


def test_erased_item_skips_the_sealing_check() -> None:
    # erased items skip the sealing check: the key is gone, only locked bytes remain
    item = operational(disposal="erased", sealed=False, service_ended_on=None)
    got = decide(POLICY, item, [], LOWER_BOUND)
    assert isinstance(got, Due) and got.action is Action.DELETE_OBJECTS


def test_archived_item_kept_until_the_end_of_the_archive_then_destroyed() -> None:
    end = at(2031, 7, 1)
    item = operational(disposal="archived", archive_until=end)
    kept = Kept(item, "intermediate archive (restricted to legal and DPO roles)", end)
    assert decide(POLICY, item, [], OPERATIONAL_UNTIL) == kept
    assert decide(POLICY, item, [], end - SECOND) == kept
    due = Due(item, Action.DESTROY, "12 months after end of service, then intermediate archive", end)
    assert decide(POLICY, item, [], end) == due
    assert decide(POLICY, item, [], at(2040, 1, 1)) == due


def test_item_with_an_archive_is_archived_at_the_end_of_its_active_period() -> None:
    end = at(2031, 7, 1)
    item = operational(archive_until=end)
    assert decide(POLICY, item, [], OPERATIONAL_UNTIL - SECOND) == Kept(item, OPERATIONAL_REASON, OPERATIONAL_UNTIL)
    archive = Due(item, Action.ARCHIVE, "12 months after end of service", OPERATIONAL_UNTIL)
    assert decide(POLICY, item, [], OPERATIONAL_UNTIL) == archive
    assert decide(POLICY, item, [], end - SECOND) == archive
    # a run that comes after the archive would have ended destroys directly
    assert decide(POLICY, item, [], end) == Due(
        item, Action.DESTROY, "12 months after end of service", OPERATIONAL_UNTIL
    )


# -- a lock cannot be shortened ----------------------------------------------------------------


def test_committed_until_later_than_the_computed_date_wins() -> None:
    locked = at(2027, 1, 15, 8)
    item = operational(committed_until=locked)
    assert retain_until(POLICY["support"], item) == locked
    assert decide(POLICY, item, [], OPERATIONAL_UNTIL) == Kept(item, OPERATIONAL_REASON, locked)
    assert decide(POLICY, item, [], locked - SECOND) == Kept(item, OPERATIONAL_REASON, locked)
    assert decide(POLICY, item, [], locked) == Due(item, Action.DESTROY, "12 months after end of service", locked)


def test_committed_until_later_wins_for_proofs_too() -> None:
    locked = at(2050, 1, 1)
    item = proof(15, committed_until=locked)
    assert retain_until(POLICY["transaction_proof"], item) == locked
    assert decide(POLICY, item, [], PROOF_15) == Kept(item, f"{PROOF_NAME} (transaction_proof)", locked)
    assert decide(POLICY, item, [], locked) == Due(item, Action.DESTROY, PROOF_NAME, locked)


def test_computed_date_later_than_committed_until_wins() -> None:
    item = operational()  # committed the lower bound, the end of service pushed it further
    assert item.committed_until == LOWER_BOUND
    assert retain_until(POLICY["support"], item) == OPERATIONAL_UNTIL


def test_retain_until_is_unknown_while_the_service_goes_on_whatever_was_committed() -> None:
    item = operational(service_ended_on=None, committed_until=at(2030, 1, 1))
    assert retain_until(POLICY["support"], item) is None


# -- erasure requests --------------------------------------------------------------------------


@pytest.mark.parametrize("service_ended_on", [None, ENDED])
@pytest.mark.parametrize("when", [RECEIVED, LOWER_BOUND - SECOND, at(2030, 1, 1)])
def test_operational_item_may_be_erased_at_any_time(service_ended_on: dt.date | None, when: dt.datetime) -> None:
    assert erasure(POLICY, operational(service_ended_on=service_ended_on), [], when) is None


@pytest.mark.parametrize(("years", "until"), [(15, PROOF_15), (99, PROOF_99)])
def test_proof_erasure_refused_within_its_retention(years: int, until: dt.datetime) -> None:
    item = proof(years)
    rule = POLICY["transaction_proof"]
    for when in (RECEIVED, until - SECOND):
        got = erasure(POLICY, item, [], when)
        assert got == Refusal(item, rule.refusal, until)
    assert got is not None
    assert got.reason.startswith("legal retention: proof of an electronic transaction")
    assert got.until == RECEIVED.replace(year=2025 + years)


@pytest.mark.parametrize(("years", "until"), [(15, PROOF_15), (99, PROOF_99)])
def test_proof_erasure_allowed_after_its_retention(years: int, until: dt.datetime) -> None:
    item = proof(years)
    assert erasure(POLICY, item, [], until) is None
    assert erasure(POLICY, item, [], until + dt.timedelta(days=400)) is None


def test_proof_erasure_refused_until_a_longer_lock() -> None:
    locked = at(2050, 1, 1)
    item = proof(15, committed_until=locked)
    assert erasure(POLICY, item, [], PROOF_15) == Refusal(item, POLICY["transaction_proof"].refusal, locked)
    assert erasure(POLICY, item, [], locked) is None


@pytest.mark.parametrize("item", [operational(), proof(15)], ids=["operational", "proof"])
def test_held_item_erasure_refused_without_an_end(item: ItemFacts) -> None:
    for h in (hold("CASE-9"), hold("CASE-9", session="sess-1"), hold("CASE-9", item_id="item-1")):
        got = erasure(POLICY, item, [h], at(2200, 1, 1))
        assert got == Refusal(item, "legal hold: case CASE-9 (deletion suspended until the hold is released)", None)
        assert got is not None and "legal hold" in got.reason and got.until is None


def test_hold_elsewhere_does_not_block_erasure() -> None:
    holds = [hold("CASE-X", tenant="other"), hold("CASE-X", session="sess-2"), hold("CASE-X", item_id="item-2")]
    assert erasure(POLICY, operational(), holds, RECEIVED) is None


# -- archive limit -----------------------------------------------------------------------------


def test_archive_until_for_the_default_rules() -> None:
    active = OPERATIONAL_UNTIL
    assert archive_until(POLICY["support"], active) == at(2031, 7, 1)
    assert archive_until(POLICY["use_service"], at(2026, 2, 28, 9)) == at(2031, 2, 28, 9)
    assert archive_until(POLICY["service_improvement"], active) is None
    assert archive_until(POLICY["personalization"], active) is None
    assert archive_until(POLICY["transaction_proof"], PROOF_15) is None


def test_archive_until_zero_months_is_no_archive() -> None:
    rule = replace(POLICY["support"], archive_max_months=0)
    assert archive_until(rule, OPERATIONAL_UNTIL) is None


def test_archive_until_uses_calendar_months() -> None:
    rule = replace(POLICY["support"], archive_max_months=1)
    assert archive_until(rule, at(2028, 1, 31, 12)) == at(2028, 2, 29, 12)
    rule = replace(POLICY["support"], archive_max_months=1200)
    assert archive_until(rule, at(2026, 7, 1)) == at(2126, 7, 1)


# -- erasure and the intermediate archive (GDPR art. 17(3)(e)) ----------------------------------

ARCHIVE_END = at(2031, 7, 1)


@pytest.mark.parametrize("when", [RECEIVED, OPERATIONAL_UNTIL, ARCHIVE_END - SECOND, ARCHIVE_END, at(2040, 1, 1)])
def test_archived_item_erasure_refused_with_the_archive_end(when: dt.datetime) -> None:
    item = operational(disposal="archived", archive_until=ARCHIVE_END)
    assert erasure(POLICY, item, [], when) == Refusal(item, ARCHIVE_REFUSAL, ARCHIVE_END)
    assert "GDPR art. 17(3)(e)" in ARCHIVE_REFUSAL and "legal claims" in ARCHIVE_REFUSAL


@pytest.mark.parametrize("when", [OPERATIONAL_UNTIL, OPERATIONAL_UNTIL + SECOND, at(2028, 1, 1), ARCHIVE_END - SECOND])
@pytest.mark.parametrize("sealed", [True, False])
def test_item_due_for_its_archive_but_not_moved_yet_is_not_erased(when: dt.datetime, sealed: bool) -> None:
    """The active period is over and an archive was requested: the item is in its archive period
    (decide() says ARCHIVE) even though no retention run has moved it yet."""
    item = operational(archive_until=ARCHIVE_END, sealed=sealed)
    if sealed:
        assert decide(POLICY, item, [], when) == Due(
            item, Action.ARCHIVE, "12 months after end of service", OPERATIONAL_UNTIL
        )
    assert erasure(POLICY, item, [], when) == Refusal(item, ARCHIVE_REFUSAL, ARCHIVE_END)


@pytest.mark.parametrize("when", [RECEIVED, LOWER_BOUND, OPERATIONAL_UNTIL - SECOND])
def test_requested_archive_does_not_block_erasure_during_the_active_period(when: dt.datetime) -> None:
    # before the active period ends the archive has not begun; erasure drops the request
    item = operational(archive_until=ARCHIVE_END)
    assert erasure(POLICY, item, [], when) is None


def test_requested_archive_with_no_known_end_of_service_does_not_block_erasure() -> None:
    item = operational(archive_until=ARCHIVE_END, service_ended_on=None)
    assert erasure(POLICY, item, [], at(2029, 1, 1)) is None


@pytest.mark.parametrize("when", [ARCHIVE_END, ARCHIVE_END + SECOND])
def test_requested_archive_that_has_ended_does_not_block_erasure(when: dt.datetime) -> None:
    item = operational(archive_until=ARCHIVE_END)
    assert erasure(POLICY, item, [], when) is None


def test_a_hold_on_an_archived_item_is_the_reason_given() -> None:
    item = operational(disposal="archived", archive_until=ARCHIVE_END)
    got = erasure(POLICY, item, [hold("CASE-2")], at(2028, 1, 1))
    assert got == Refusal(item, "legal hold: case CASE-2 (deletion suspended until the hold is released)", None)


def test_several_holds_are_named_sorted_once() -> None:
    item = operational()
    holds = [hold("B-2"), hold("A-1", session="sess-1"), hold("B-2", item_id="item-1")]
    got = erasure(POLICY, item, holds, RECEIVED)
    assert got is not None and got.reason == "legal hold: case A-1, B-2 (deletion suspended until the hold is released)"
    kept = decide(POLICY, item, holds, at(2040, 1, 1))
    assert kept == Kept(item, "legal hold: case A-1, B-2", OPERATIONAL_UNTIL, hold="A-1, B-2")


def test_non_erasable_rule_refuses_while_its_end_is_unknown() -> None:
    # a non-erasable rule whose end depends on a future event (end of service) refuses, no date
    from vault.retention.policy import Purpose

    rule = replace(POLICY["support"], erasable=False, refusal="kept by law")
    policy = replace(POLICY, rules={**POLICY.rules, Purpose("support"): rule})
    item = operational(service_ended_on=None)
    assert erasure(policy, item, [], at(2030, 1, 1)) == Refusal(item, "kept by law", None)
    ended = operational()
    assert erasure(policy, ended, [], OPERATIONAL_UNTIL - SECOND) == Refusal(ended, "kept by law", OPERATIONAL_UNTIL)
    assert erasure(policy, ended, [], OPERATIONAL_UNTIL) is None


def test_archived_item_without_an_archive_end_is_an_index_error_naming_the_item() -> None:
    from vault.errors import IndexError_

    item = operational(disposal="archived", archive_until=None)
    with pytest.raises(IndexError_) as caught:
        decide(POLICY, item, [], at(2030, 1, 1))
    assert caught.value.message == "an archived item has no archive end date"
    assert caught.value.detail == "item-1"
