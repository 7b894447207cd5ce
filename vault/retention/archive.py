"""Requests for the intermediate archive (legal and DPO roles).

At the end of its active period an item is normally destroyed; a request sets, instead, the
latest end of its archive (active end + the policy's ``archive_max_months``, the legal
maximum). The next retention run moves it: lock extended to that date, the archive storage
class where the store has lifecycle transitions (else the state is recorded), reads limited
to the legal and DPO roles. When the archive ends, the item is destroyed like any other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from vault.access.principal import PRIVILEGED, SYSTEM, Principal
from vault.context import VaultContext
from vault.evidence.manifest import iso
from vault.index.models import Item
from vault.journal.log import record
from vault.retention.decide import HoldFacts, archive_until, retain_until
from vault.retention.facts import load_items
from vault.retention.holds import _check_scope


def request_archive(
    ctx: VaultContext, *, tenant: str, session: str | None = None, item: str | None = None, who: Principal = SYSTEM
) -> dict[str, Any]:
    who.require(PRIVILEGED, "sending items to the intermediate archive")
    _check_scope(ctx, tenant, session, item, "archive")
    scope = HoldFacts(0, tenant, session, item, "")
    accepted: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    with ctx.sessions() as s:
        rows = [r for r in load_items(s, tenant=tenant) if scope.covers(r.facts)]
        for r in rows:
            rule = ctx.policy[r.facts.purpose]
            if r.facts.disposal is not None:
                refused.append({"id": r.facts.id, "reason": f"already {r.facts.disposal}"})
                continue
            active = retain_until(rule, r.facts)
            if active is None:
                refused.append({"id": r.facts.id, "reason": "its active period has no end yet (service not ended)"})
                continue
            until = archive_until(rule, active)
            if until is None:
                refused.append({"id": r.facts.id, "reason": f"the policy allows no archive for {rule.purpose.value}"})
                continue
            s.execute(update(Item).where(Item.id == r.facts.id).values(archive_until=until))
            accepted.append({"id": r.facts.id, "active_until": iso(active), "archive_until": iso(until)})
        record(
            s,
            ctx,
            who,
            "archive_request",
            tenant=tenant,
            session=session,
            item=item,
            accepted=[a["id"] for a in accepted],
            refused=refused,
        )
        s.commit()
    return {"accepted": accepted, "refused": refused}
