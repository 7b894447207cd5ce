"""Legal holds: placed on a tenant, a session or an item with a case reference.

The hold is recorded in the index first (from then on no retention run or erasure touches
what it covers), then the S3 legal hold is set on every version of the affected objects, so
the store itself refuses deletion. Placing the same hold again is a no-op that re-applies the
S3 flags, which is how an interrupted placement is completed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.access.principal import SYSTEM, Principal
from vault.context import VaultContext, check_name
from vault.errors import InputError, NotFound
from vault.evidence.manifest import iso
from vault.index.models import Hold, Item, Tenant
from vault.ingest.common import manifest_key
from vault.journal.log import record
from vault.retention.decide import HoldFacts
from vault.retention.facts import ItemRow, Progress, load_holds, load_items, object_keys


@dataclass(frozen=True)
class HoldResult:
    hold_id: int
    case: str
    tenant: str
    session: str | None
    item: str | None
    items: int
    object_versions: int
    created: bool

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _check_scope(ctx: VaultContext, tenant: str, session: str | None, item: str | None, case: str) -> None:
    check_name("tenant", tenant)
    if session is not None:
        check_name("session", session)
    if not case.strip() or len(case) > 200:
        raise InputError("a hold needs a case reference of 1-200 characters")
    with ctx.sessions() as s:
        if s.get(Tenant, tenant) is None:
            raise NotFound("no such tenant", detail=tenant)
        if item is not None:
            row = s.scalars(select(Item).where(Item.id == item, Item.tenant_id == tenant)).first()
            if row is None:
                raise NotFound("no such item in this tenant", detail=f"{item} in {tenant}")
            if session is not None and row.session != session:
                raise InputError("the item is not in that session", detail=f"{item} is in {row.session}")


def tenant_rows(ctx: VaultContext, tenant: str) -> list[ItemRow]:
    """The tenant's items, deposits being written included: a file deposit that checked for
    holds before a hold was committed still gets its flag from here (its intent row exists
    before its PUT), and one that checks after sees the hold itself."""
    with ctx.sessions() as s:
        return load_items(s, tenant=tenant, with_intents=True)


def covered(rows: list[ItemRow], hold: HoldFacts) -> list[ItemRow]:
    return [r for r in rows if hold.covers(r.facts) and r.facts.disposal != "destroyed"]


def _set_flags(ctx: VaultContext, keys: list[str], on: bool, progress: Progress | None) -> int:
    n = 0
    for i, key in enumerate(keys):
        for k, version_id in ctx.store.stored_versions(key, manifest_key(key)):
            ctx.store.set_legal_hold(k, version_id, on)
            n += 1
        if progress:
            progress(i + 1, len(keys))
    return n


def _find_active(s: Session, tenant: str, session: str | None, item: str | None, case: str) -> Hold | None:
    """The active hold with exactly this scope and case."""
    return s.scalars(
        select(Hold).where(
            Hold.tenant_id == tenant,
            Hold.session.is_(None) if session is None else Hold.session == session,
            Hold.item_id.is_(None) if item is None else Hold.item_id == item,
            Hold.case_ref == case,
            Hold.released_at.is_(None),
        )
    ).first()


def add_hold(
    ctx: VaultContext,
    *,
    tenant: str,
    case: str,
    session: str | None = None,
    item: str | None = None,
    progress: Progress | None = None,
    who: Principal = SYSTEM,
) -> HoldResult:
    _check_scope(ctx, tenant, session, item, case)
    with ctx.sessions() as s:
        existing = _find_active(s, tenant, session, item, case)
        created = existing is None
        if existing is None:
            existing = Hold(
                tenant_id=tenant,
                session=session,
                item_id=item,
                case_ref=case,
                placed_at=ctx.now(),
                placed_by=who.actor,
            )
            s.add(existing)
            s.flush()
            record(
                s,
                ctx,
                who,
                "hold_add",
                tenant=tenant,
                hold=existing.id,
                case=case,
                session=session,
                item=item,
            )
            s.commit()
        facts = HoldFacts(existing.id, tenant, session, item, case)
    rows = covered(tenant_rows(ctx, tenant), facts)
    versions = _set_flags(ctx, list(object_keys(rows)), True, progress)
    return HoldResult(facts.id, case, tenant, session, item, len(rows), versions, created)


def release_hold(
    ctx: VaultContext,
    *,
    tenant: str,
    case: str,
    session: str | None = None,
    item: str | None = None,
    progress: Progress | None = None,
    who: Principal = SYSTEM,
) -> HoldResult:
    _check_scope(ctx, tenant, session, item, case)
    with ctx.sessions() as s:
        hold = _find_active(s, tenant, session, item, case)
        if hold is None:
            raise NotFound("no active hold with that scope and case", detail=f"case {case!r} on {tenant}")
        hold.released_at = ctx.now()
        hold.released_by = who.actor
        record(
            s,
            ctx,
            who,
            "hold_release",
            tenant=tenant,
            hold=hold.id,
            case=case,
            session=session,
            item=item,
            placed_at=iso(hold.placed_at),
        )
        s.commit()
        facts = HoldFacts(hold.id, tenant, session, item, case)
        others = load_holds(s, tenant=tenant)
    all_rows = tenant_rows(ctx, tenant)
    rows = covered(all_rows, facts)
    # an object stays held while another active hold covers any item stored in it
    still = {r.object_key for r in all_rows if any(h.covers(r.facts) for h in others)}
    free = [key for key in object_keys(rows) if key not in still]
    versions = _set_flags(ctx, free, False, progress)
    return HoldResult(facts.id, case, tenant, session, item, len(rows), versions, False)


def list_holds(ctx: VaultContext, *, tenant: str | None = None, active_only: bool = True) -> list[dict[str, Any]]:
    with ctx.sessions() as s:
        q = select(Hold).order_by(Hold.id)
        if tenant is not None:
            q = q.where(Hold.tenant_id == tenant)
        if active_only:
            q = q.where(Hold.released_at.is_(None))
        return [
            {
                "id": h.id,
                "tenant": h.tenant_id,
                "session": h.session,
                "item": h.item_id,
                "case": h.case_ref,
                "placed_at": iso(h.placed_at),
                "placed_by": h.placed_by,
                "released_at": iso(h.released_at) if h.released_at else None,
            }
            for h in s.scalars(q).all()
        ]
