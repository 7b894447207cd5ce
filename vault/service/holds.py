"""Legal holds: place, release, list (scoped to the caller's tenant)."""

from __future__ import annotations

from vault.access.permissions import Op, authorize, scope_tenant
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.retention import holds
from vault.retention.facts import Progress
from vault.retention.holds import HoldResult
from vault.service.items import find_item
from vault.service.result import Result


def _check_item(ctx: VaultContext, who: Principal, tenant: str, item: str | None) -> None:
    if item is not None:  # another tenant's item is "no such item", before any hold logic
        row, _ = find_item(ctx, who, item)
        if row.tenant_id != tenant:
            from vault.errors import NotFound

            raise NotFound("no such item", detail=item)


def add(
    ctx: VaultContext,
    who: Principal,
    *,
    tenant: str,
    case: str,
    session: str | None = None,
    item: str | None = None,
    progress: Progress | None = None,
) -> HoldResult:
    authorize(who, Op.HOLD_ADD, tenant=tenant)
    _check_item(ctx, who, tenant, item)
    return holds.add_hold(ctx, tenant=tenant, case=case, session=session, item=item, progress=progress, who=who)


def release(
    ctx: VaultContext,
    who: Principal,
    *,
    tenant: str,
    case: str,
    session: str | None = None,
    item: str | None = None,
    progress: Progress | None = None,
) -> HoldResult:
    authorize(who, Op.HOLD_RELEASE, tenant=tenant)
    _check_item(ctx, who, tenant, item)
    return holds.release_hold(ctx, tenant=tenant, case=case, session=session, item=item, progress=progress, who=who)


def list_(ctx: VaultContext, who: Principal, *, tenant: str | None = None, active_only: bool = True) -> Result:
    authorize(who, Op.HOLD_LIST)
    scope = scope_tenant(who, tenant)
    return Result({"holds": holds.list_holds(ctx, tenant=scope, active_only=active_only)})
