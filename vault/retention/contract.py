"""Tenant contracts: proof retention (15..99 years) and the end of service.

Recording the end of service (or a longer proof period) moves retain-until dates later; the
locks of the affected object versions are extended first, then the index, so a crash leaves
the index at the older (shorter) date, which the next run of the same command completes and
which retention decisions never trust alone (they recompute from the contract).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from vault.access.principal import SYSTEM, Principal
from vault.context import VaultContext, check_name
from vault.errors import Conflict, InputError, NotFound
from vault.evidence.manifest import iso
from vault.index.models import Item, Segment, Tenant
from vault.ingest.common import extension_lock, manifest_key, whole_seconds
from vault.journal.log import record
from vault.retention.facts import Progress, load_items, object_keys
from vault.retention.rules import check_proof_years


@dataclass(frozen=True)
class TenantInfo:
    id: str
    proof_years: int
    service_ended_on: dt.date | None
    created: bool = False
    items_extended: int = 0
    objects_extended: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.id,
            "proof_years": self.proof_years,
            "service_ended_on": self.service_ended_on.isoformat() if self.service_ended_on else None,
            "created": self.created,
            "items_extended": self.items_extended,
            "objects_extended": self.objects_extended,
        }


def create_tenant(
    ctx: VaultContext, tenant: str, proof_years: int | None = None, *, who: Principal = SYSTEM
) -> TenantInfo:
    """Create a tenant; creating it again with the same contract is a no-op."""
    check_name("tenant", tenant)
    years = check_proof_years(proof_years if proof_years is not None else ctx.settings.default_proof_years)
    with ctx.sessions() as s:
        t = s.get(Tenant, tenant)
        if t is not None:
            if proof_years is not None and t.proof_years != years:
                raise Conflict(
                    f"tenant {tenant!r} exists with a proof retention of {t.proof_years} years",
                    detail="change it with `vault tenant set-proof-years` (it can only grow)",
                )
            return TenantInfo(t.id, t.proof_years, t.service_ended_on)
        s.add(Tenant(id=tenant, proof_years=years, created_at=ctx.now()))
        record(s, ctx, who, "tenant_create", tenant=tenant, proof_years=years)
        s.commit()
    return TenantInfo(tenant, years, None, created=True)


def _tenant(ctx: VaultContext, tenant: str) -> Tenant:
    check_name("tenant", tenant)
    with ctx.sessions() as s:
        t = s.get(Tenant, tenant)
        if t is None:
            raise NotFound("no such tenant", detail=tenant)
        return t


def end_service(
    ctx: VaultContext,
    tenant: str,
    ended_on: dt.date,
    *,
    progress: Progress | None = None,
    who: Principal = SYSTEM,
) -> TenantInfo:
    """Record the end of service (possibly in the past) and extend what it makes longer."""
    t = _tenant(ctx, tenant)
    if ended_on > ctx.now().date():
        raise InputError(
            "the end of service is in the future", detail=f"{ended_on}: record it when the contract has ended"
        )
    if t.service_ended_on is not None and ended_on < t.service_ended_on:
        raise Conflict(
            f"the end of service is already recorded on {t.service_ended_on}",
            detail=f"{ended_on} is earlier: retention already locked cannot be shortened",
        )
    with ctx.sessions() as s:
        row = s.get(Tenant, tenant)
        assert row is not None
        changed = row.service_ended_on != ended_on
        if changed:
            record(
                s,
                ctx,
                who,
                "end_service",
                tenant=tenant,
                ended_on=ended_on.isoformat(),
                previous=row.service_ended_on.isoformat() if row.service_ended_on else None,
            )
            row.service_ended_on = ended_on
            s.commit()
    items, objects = extend_locks(ctx, tenant, progress=progress, who=who)
    return TenantInfo(tenant, t.proof_years, ended_on, items_extended=items, objects_extended=objects)


def set_proof_years(
    ctx: VaultContext, tenant: str, years: int, *, progress: Progress | None = None, who: Principal = SYSTEM
) -> TenantInfo:
    t = _tenant(ctx, tenant)
    check_proof_years(years)
    if years < t.proof_years:
        raise Conflict(
            f"the proof retention is {t.proof_years} years", detail=f"{years} is shorter: locks cannot be shortened"
        )
    with ctx.sessions() as s:
        row = s.get(Tenant, tenant)
        assert row is not None
        if row.proof_years != years:
            record(s, ctx, who, "set_proof_years", tenant=tenant, years=years, previous=row.proof_years)
            row.proof_years = years
            s.commit()
    items, objects = extend_locks(ctx, tenant, progress=progress, who=who)
    return TenantInfo(tenant, years, t.service_ended_on, items_extended=items, objects_extended=objects)


def extend_locks(
    ctx: VaultContext, tenant: str, *, progress: Progress | None = None, who: Principal = SYSTEM
) -> tuple[int, int]:
    """Bring every live item of the tenant to its current retain-until date: store locks
    first (all versions of the object and its manifest), then the index. Idempotent."""
    with ctx.sessions() as s:
        rows = load_items(s, tenant=tenant)
    targets: dict[str, dt.datetime] = {}  # object key -> new retain-until (max over its items)
    per_item: dict[str, dt.datetime] = {}
    for r in rows:
        if r.facts.disposal in ("destroyed", "erased", "archived"):
            continue
        rule = ctx.policy[r.facts.purpose]
        new = whole_seconds(
            rule.committed_until(
                r.facts.received_at, proof_years=r.facts.proof_years, service_ended_on=r.facts.service_ended_on
            )
        )
        if new > r.facts.committed_until:
            per_item[r.facts.id] = new
            targets[r.object_key] = max(new, targets.get(r.object_key, new))
    by_key = object_keys(rows)
    for n, (key, until) in enumerate(sorted(targets.items())):
        lock = extension_lock(ctx, until)
        if lock is not None:
            for k, version_id in ctx.store.stored_versions(key, manifest_key(key)):
                ctx.store.extend_retention(k, version_id, lock.mode, lock.retain_until)
        with ctx.sessions() as s:
            for r in by_key[key]:
                if r.facts.id in per_item:
                    s.execute(update(Item).where(Item.id == r.facts.id).values(retain_until=per_item[r.facts.id]))
            seg = s.scalars(select(Segment).where(Segment.object_key == key)).first()
            if seg is not None:
                seg.retain_until = max(seg.retain_until, until)
            s.commit()
        if progress:
            progress(n + 1, len(targets))
    if per_item:
        with ctx.sessions() as s:
            record(
                s,
                ctx,
                who,
                "retention_extended",
                tenant=tenant,
                items=len(per_item),
                objects=len(targets),
                latest=iso(max(per_item.values())),
            )
            s.commit()
    return len(per_item), len(targets)


def tenant_info(ctx: VaultContext, tenant: str) -> TenantInfo:
    t = _tenant(ctx, tenant)
    return TenantInfo(t.id, t.proof_years, t.service_ended_on)
