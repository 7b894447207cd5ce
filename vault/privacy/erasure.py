"""Erasure (GDPR art. 17) by crypto-shredding, refused item by item where the law keeps data.

Evidence is immutable and locked, so erasing is destroying the data key(s) that encrypt the
subject's data. Keys are per (tenant, subject, purpose scope, generation): a refusal for one
purpose (a transaction proof under legal retention, a legal hold) never blocks erasure of
another. An item that shares its key with an item that must be kept is refused too, and
says so. Asking again returns the same answer (already-erased items are listed as erased).

Every live key row of the subject is destroyed except those an acknowledged item still
needs: keys used only by deposits that never finished (``writing`` or ``orphaned`` items,
segments written but never acknowledged) and keys with no item at all go too, so no
ciphertext of the subject stays readable whatever its state. A deposit in flight under a
destroyed key is refused at its commit (``DataKeys.check_live``), never acknowledged.
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

#: item states of deposits never acknowledged: their bytes may be in the store, they are no evidence
UNACKNOWLEDGED = ("writing", "orphaned")


@dataclass
class ErasureResult:
    erased: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    keys_destroyed: int = 0
    record: str = ""
    #: deposits never acknowledged (``writing``, ``orphaned``) whose key was destroyed now
    unacknowledged: list[str] = field(default_factory=list)
    #: set by vault.service.kek.after_erasure: the subject's journal pseudonym key destroyed (no
    #: data key of theirs left), and the KEK rotation that makes the erasure reach backups
    pseudonym_destroyed: bool = False
    kek_rotation: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "erased": self.erased,
            "refused": [
                {"id": r.item.id, "reason": r.reason, "until": iso(r.until) if r.until else None} for r in self.refused
            ],
            "keys_destroyed": self.keys_destroyed,
            "unacknowledged": self.unacknowledged,
            "record": self.record,
            "pseudonym_destroyed": self.pseudonym_destroyed,
            "kek_rotation": self.kek_rotation,
        }


def erase_subject(ctx: VaultContext, tenant: str, subject: str, *, who: Principal = SYSTEM) -> ErasureResult:
    check_name("tenant", tenant)
    check_name("subject", subject)
    now = ctx.now()
    names = subject_names(ctx, tenant, subject)
    result = ErasureResult()
    destroyed: list[dict[str, Any]] = []
    with ctx.sessions() as s:
        if s.get(Tenant, tenant) is None:
            raise NotFound("no such tenant", detail=tenant)
        # lock the subject's live keys first: a deposit's commit re-checks its key under the same
        # row lock (check_live), so on PostgreSQL it either commits before this decision (and
        # its item is decided on below) or finds its key destroyed and is not acknowledged
        keys = s.scalars(
            select(SubjectKey)
            .where(SubjectKey.tenant_id == tenant, SubjectKey.subject.in_(names), SubjectKey.wrapped_key.is_not(None))
            .order_by(SubjectKey.id)
            .with_for_update()
        ).all()
        rows = load_items(s, tenant=tenant, subjects=names)
        holds = load_holds(s, tenant=tenant)
        live = [r for r in rows if r.facts.disposal not in ("erased", "destroyed")]
        result.erased = [r.facts.id for r in rows if r.facts.disposal in ("erased", "destroyed")]
        refusals = {r.facts.id: erasure(ctx.policy, r.facts, holds, now) for r in live}
        by_key: dict[int, list[str]] = defaultdict(list)
        for r in live:
            by_key[r.subject_key_id].append(r.facts.id)
        kept: set[int] = set()
        for kid, ids in by_key.items():
            blocking = [refusals[i] for i in ids if refusals[i] is not None]
            if not blocking:
                result.erased += ids
                continue
            kept.add(kid)
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
        # every other live key goes, whatever its items' states (or if it has none)
        to_destroy = [k for k in keys if k.id not in kept]
        destroy_ids = {k.id for k in to_destroy}
        erased_now = [i for kid, ids in by_key.items() if kid not in kept for i in ids]
        if destroy_ids:
            result.unacknowledged = sorted(
                s.scalars(
                    select(Item.id).where(Item.subject_key_id.in_(destroy_ids), Item.state.in_(UNACKNOWLEDGED))
                ).all()
            )
        for key in to_destroy:
            what = {"key": key.id, "scope": key.scope, "generation": key.generation}
            if destroy_key(s, ctx, key, now):
                destroyed.append(what)
        result.keys_destroyed = len(destroyed)
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
            keys_destroyed=destroyed,
            unacknowledged=result.unacknowledged,
        )
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
    ctx.data_keys.forget(destroy_ids)
    result.erased.sort()
    return result
