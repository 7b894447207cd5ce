"""What happens to an item at a given instant: pure decisions from plain facts.

The plan (``vault retention plan``), the run (``vault retention apply``) and erasure requests
all decide here, so a simulation at a future date and the real run can never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from vault.errors import IndexError_
from vault.retention.policy import Policy, PurposeRule, RuleKind
from vault.retention.rules import add_months


@dataclass(frozen=True)
class ItemFacts:
    id: str
    tenant: str
    session: str
    purpose: str
    sealed: bool
    disposal: str | None  # None, archived, erased, destroyed
    received_at: dt.datetime
    committed_until: dt.datetime  # the retention the vault committed to (and locked) so far
    archive_until: dt.datetime | None
    proof_years: int
    service_ended_on: dt.date | None
    kind: str = ""
    segment: str | None = None  # records share a segment object with others


@dataclass(frozen=True)
class HoldFacts:
    id: int
    tenant: str
    session: str | None
    item_id: str | None
    case_ref: str

    def covers(self, item: ItemFacts) -> bool:
        if self.tenant != item.tenant:
            return False
        if self.item_id is not None:
            return self.item_id == item.id
        return self.session is None or self.session == item.session


class Action(StrEnum):
    DESTROY = "destroy"  # delete every object version, destroy the key when unused
    DELETE_OBJECTS = "delete_objects"  # already erased (key gone): delete the locked bytes now
    ARCHIVE = "archive"  # move to the intermediate archive instead of destroying


@dataclass(frozen=True)
class Due:
    item: ItemFacts
    action: Action
    rule: str
    retain_until: dt.datetime


@dataclass(frozen=True)
class Kept:
    item: ItemFacts
    reason: str
    retain_until: dt.datetime | None  # None while it depends on a future event
    at_least: dt.datetime | None = None
    hold: str | None = None


def retain_until(rule: PurposeRule, item: ItemFacts) -> dt.datetime | None:
    """The end of the item's active period under the policy, never earlier than what the vault
    already committed to (a COMPLIANCE lock cannot be shortened); None while unknown."""
    computed = rule.retain_until(item.received_at, proof_years=item.proof_years, service_ended_on=item.service_ended_on)
    if computed is None:
        return None
    return max(computed, item.committed_until)


def holds_on(item: ItemFacts, holds: list[HoldFacts]) -> list[HoldFacts]:
    return [h for h in holds if h.covers(item)]


def decide(policy: Policy, item: ItemFacts, holds: list[HoldFacts], at: dt.datetime) -> Due | Kept | None:
    """``None`` for an item that is gone already (destroyed)."""
    if item.disposal == "destroyed":
        return None
    rule = policy[item.purpose]
    until = retain_until(rule, item)
    held = holds_on(item, holds)
    if held:
        cases = ", ".join(sorted({h.case_ref for h in held}))
        return Kept(item, f"legal hold: case {cases}", until, hold=cases)
    if item.disposal == "erased":
        # the key is gone: the bytes go as soon as their lock ends (the lock as it stands,
        # not a later date recomputed since: erased items' locks are not extended)
        lock_end = item.committed_until  # erasure refuses archived items: no archive extension
        if lock_end <= at:
            return Due(item, Action.DELETE_OBJECTS, "erased on request (GDPR art. 17); lock expired", lock_end)
        return Kept(item, "erased on request: key destroyed, bytes locked until the date shown", lock_end)
    if item.disposal == "archived":
        if item.archive_until is None:
            raise IndexError_("an archived item has no archive end date", detail=item.id)
        if item.archive_until <= at:
            return Due(item, Action.DESTROY, f"{rule.name}, then intermediate archive", item.archive_until)
        return Kept(item, "intermediate archive (restricted to legal and DPO roles)", item.archive_until)
    if until is None:
        return Kept(
            item,
            f"{rule.name}: the service has not ended",
            None,
            at_least=item.committed_until,
        )
    if until > at:
        return Kept(item, f"{rule.name} ({rule.purpose.value})", until)
    if not item.sealed:
        return Kept(item, "retention ended, but the item is not sealed yet: destroyed after sealing", until)
    if item.archive_until is not None and item.archive_until > at:
        return Due(item, Action.ARCHIVE, rule.name, until)
    return Due(item, Action.DESTROY, rule.name, until)


def archive_until(rule: PurposeRule, active_until: dt.datetime) -> dt.datetime | None:
    """The latest end of an intermediate archive; None when the policy allows no archive."""
    if rule.archive_max_months <= 0:
        return None
    return add_months(active_until, rule.archive_max_months)


@dataclass(frozen=True)
class Refusal:
    item: ItemFacts
    reason: str
    until: dt.datetime | None


ARCHIVE_REFUSAL = (
    "in the intermediate archive, kept for the establishment, exercise or defence of legal claims (GDPR art. 17(3)(e))"
)


def erasure(policy: Policy, item: ItemFacts, holds: list[HoldFacts], at: dt.datetime) -> Refusal | None:
    """``None`` when the item may be erased now; otherwise why not, and until when."""
    held = holds_on(item, holds)
    if held:
        cases = ", ".join(sorted({h.case_ref for h in held}))
        return Refusal(item, f"legal hold: case {cases} (deletion suspended until the hold is released)", None)
    if item.disposal == "archived":
        return Refusal(item, ARCHIVE_REFUSAL, item.archive_until)
    rule = policy[item.purpose]
    until = retain_until(rule, item)
    if _archive_has_begun(item, until, at):
        # an archive the legal or DPO role asked for starts when the active period ends, whether
        # or not a retention run has moved the item yet (decide() says ARCHIVE from then on)
        return Refusal(item, ARCHIVE_REFUSAL, item.archive_until)
    if not rule.erasable and (until is None or until > at):
        return Refusal(item, rule.refusal, until)
    return None


def _archive_has_begun(item: ItemFacts, active_until: dt.datetime | None, at: dt.datetime) -> bool:
    """An archive was requested and its period runs at ``at``: the active period is over and the
    archive is not. Before the active period ends, erasure drops the requested archive."""
    return item.archive_until is not None and active_until is not None and active_until <= at < item.archive_until


__all__ = [
    "ARCHIVE_REFUSAL",
    "Action",
    "Due",
    "HoldFacts",
    "ItemFacts",
    "Kept",
    "Refusal",
    "RuleKind",
    "archive_until",
    "decide",
    "erasure",
    "retain_until",
]
