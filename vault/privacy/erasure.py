"""Erasure (GDPR art. 17) by crypto-shredding, refused item by item where the law keeps data.

Evidence is immutable and locked, so erasing is destroying the data key(s) that encrypt the
subject's items. Keys are per (tenant, subject, purpose): a refusal for one purpose (a
transaction proof under legal retention, a legal hold) never blocks erasure of another. An
item that shares its key with an item that must be kept is refused too, and says so. Asking
again returns the same answer (already-erased items are listed as erased).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from vault.access.principal import SYSTEM, Principal
from vault.context import VaultContext, check_name
from vault.errors import NotFound
from vault.evidence.manifest import iso
from vault.index.models import Item, SubjectKey, Tenant
from vault.journal.log import record
from vault.privacy.shredding import destroy_key, subject_names
from vault.retention.decide import Refusal, erasure
from vault.retention.facts import load_holds, load_items

ERASURE_RULE = "erasure on request (GDPR art. 17)"


@dataclass
class ErasureResult:
    erased: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    keys_destroyed: int = 0
    record: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "erased": self.erased,
            "refused": [
                {"id": r.item.id, "reason": r.reason, "until": iso(r.until) if r.until else None} for r in self.refused
            ],
            "keys_destroyed": self.keys_destroyed,
            "record": self.record,
        }


def erase_subject(ctx: VaultContext, tenant: str, subject: str, *, who: Principal = SYSTEM) -> ErasureResult:
    check_name("tenant", tenant)
    check_name("subject", subject)
    now = ctx.now()
    with ctx.sessions() as s:
        if s.get(Tenant, tenant) is None:
            raise NotFound("no such tenant", detail=tenant)
        rows = load_items(s, tenant=tenant, subjects=subject_names(ctx, tenant, subject))
        holds = load_holds(s, tenant=tenant)
    result = ErasureResult()
    live = [r for r in rows if r.facts.disposal not in ("erased", "destroyed")]
    result.erased = [r.facts.id for r in rows if r.facts.disposal in ("erased", "destroyed")]
    refusals = {r.facts.id: erasure(ctx.policy, r.facts, holds, now) for r in live}
    by_key: dict[int, list[str]] = defaultdict(list)
    for r in live:
        by_key[r.subject_key_id].append(r.facts.id)
    to_destroy: set[int] = set()
    for kid, ids in by_key.items():
        blocking = [refusals[i] for i in ids if refusals[i] is not None]
        if not blocking:
            to_destroy.add(kid)
            result.erased += ids
            continue
        first = blocking[0]
        assert first is not None
        for i in ids:
            ref = refusals[i]
            if ref is None:
                row = next(r for r in live if r.facts.id == i)
                ref = Refusal(
                    row.facts,
                    f"shares its data key with {first.item.id}, which must be kept: {first.reason}",
                    first.until,
                )
            result.refused.append(ref)
    erased_now = [i for kid in to_destroy for i in by_key[kid]]
    with ctx.sessions() as s:
        entry = record(
            s,
            ctx,
            who,
            "subject_erase",
            tenant=tenant,
            subject=subject,
            at=now,
            erased=sorted(result.erased),
            erased_now=sorted(erased_now),
            refused=[
                {"id": r.item.id, "reason": r.reason, "until": iso(r.until) if r.until else None}
                for r in result.refused
            ],
        )
        for kid in sorted(to_destroy):
            key = s.scalars(select(SubjectKey).where(SubjectKey.id == kid).with_for_update()).one()
            if destroy_key(s, ctx, key, now):
                result.keys_destroyed += 1
        if erased_now:
            s.execute(
                update(Item)
                .where(Item.id.in_(erased_now))
                .values(
                    disposal="erased",
                    disposed_at=now,
                    disposal_rule=ERASURE_RULE,
                    disposal_record=entry.id,
                    archive_until=None,  # an archive requested for it will not happen
                )
            )
        s.commit()
        result.record = entry.id
    ctx.data_keys.forget(to_destroy)
    result.erased.sort()
    return result
