"""What a retention run would do at a given instant (``vault retention plan``): no side effect.

Decisions come from :func:`vault.retention.decide.decide`; the one thing added here is the
segment rule: records of several subjects share a segment object, which can only be deleted
when every record in it is due, so a due record whose segment neighbour must stay is kept
(and says why).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from vault.context import VaultContext
from vault.evidence.manifest import iso
from vault.retention.decide import Action, Due, Kept, decide
from vault.retention.facts import ItemRow, load_holds, load_items


@dataclass
class Plan:
    at: dt.datetime
    due: list[tuple[Due, ItemRow]] = field(default_factory=list)
    kept: list[tuple[Kept, ItemRow]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "due": [
                {
                    "id": d.item.id,
                    "tenant": d.item.tenant,
                    "session": d.item.session,
                    "kind": d.item.kind,
                    "purpose": d.item.purpose,
                    "rule": d.rule,
                    "retain_until": iso(d.retain_until),
                    "action": d.action.value,
                }
                for d, _ in self.due
            ],
            "kept": [
                {
                    "id": k.item.id,
                    "tenant": k.item.tenant,
                    "session": k.item.session,
                    "kind": k.item.kind,
                    "purpose": k.item.purpose,
                    "retain_until": iso(k.retain_until) if k.retain_until else None,
                    "reason": k.reason,
                    **({"at_least_until": iso(k.at_least)} if k.at_least else {}),
                    **({"hold": k.hold} if k.hold else {}),
                    **({"disposal": k.item.disposal} if k.item.disposal else {}),
                }
                for k, _ in self.kept
            ],
        }


DELETES = (Action.DESTROY, Action.DELETE_OBJECTS)


def make_plan(ctx: VaultContext, at: dt.datetime, *, tenant: str | None = None) -> Plan:
    with ctx.sessions() as s:
        rows = load_items(s, tenant=tenant)
        holds = load_holds(s, tenant=tenant)
    plan = Plan(at)
    decided: dict[str, Due | Kept] = {}
    for r in rows:
        d = decide(ctx.policy, r.facts, holds, at)
        if d is not None:
            decided[r.facts.id] = d
    # a segment object goes only when every record still in it goes
    by_segment: dict[str, list[ItemRow]] = defaultdict(list)
    for r in rows:
        if r.facts.segment is not None and r.facts.id in decided:
            by_segment[r.facts.segment].append(r)
    for seg_rows in by_segment.values():
        blockers = [
            decided[r.facts.id]
            for r in seg_rows
            if not (isinstance(decided[r.facts.id], Due) and decided[r.facts.id].action in DELETES)  # type: ignore[union-attr]
        ]
        if not blockers:
            continue
        first = blockers[0]
        for r in seg_rows:
            d = decided[r.facts.id]
            if isinstance(d, Due) and d.action in DELETES:
                decided[r.facts.id] = Kept(
                    r.facts,
                    f"due, but shares segment {r.facts.segment} with {first.item.id}, kept: {_why(first)}",
                    d.retain_until,
                    hold=first.hold if isinstance(first, Kept) else None,
                )
    for r in rows:
        d2 = decided.get(r.facts.id)
        if isinstance(d2, Due):
            plan.due.append((d2, r))
        elif isinstance(d2, Kept):
            plan.kept.append((d2, r))
    return plan


def decision_for(ctx: VaultContext, item_id: str, at: dt.datetime) -> Due | Kept | None:
    """The retention decision for one item (segment neighbours included), as the plan makes it."""
    with ctx.sessions() as s:
        rows = load_items(s, ids=[item_id])
    if not rows:
        return None
    row = rows[0]
    plan = make_plan(ctx, at, tenant=row.facts.tenant) if row.facts.segment else None
    if plan is not None:
        found = [d for d, r in plan.due if r.facts.id == item_id] + [k for k, r in plan.kept if r.facts.id == item_id]
        return found[0] if found else None
    with ctx.sessions() as s:
        holds = load_holds(s, tenant=row.facts.tenant)
    return decide(ctx.policy, row.facts, holds, at)


def _why(d: Due | Kept) -> str:
    return d.reason if isinstance(d, Kept) else f"to {d.action.value}"
