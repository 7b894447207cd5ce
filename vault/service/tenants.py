"""Tenants and their contracts (proof retention, end of service)."""

from __future__ import annotations

import datetime as dt

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.retention import contract
from vault.retention.contract import TenantInfo
from vault.retention.facts import Progress
from vault.service.result import Result
from vault.tenants.registry import list_tenants


def create(ctx: VaultContext, who: Principal, tenant: str, proof_years: int | None = None) -> TenantInfo:
    authorize(who, Op.TENANT_CREATE)
    return contract.create_tenant(ctx, tenant, proof_years, who=who)


def show(ctx: VaultContext, who: Principal, tenant: str) -> TenantInfo:
    authorize(who, Op.TENANT_SHOW, tenant=tenant)
    return contract.tenant_info(ctx, tenant)


def end_service(
    ctx: VaultContext, who: Principal, tenant: str, ended_on: dt.date, *, progress: Progress | None = None
) -> TenantInfo:
    authorize(who, Op.TENANT_END_SERVICE, tenant=tenant)
    return contract.end_service(ctx, tenant, ended_on, progress=progress, who=who)


def set_proof_years(
    ctx: VaultContext, who: Principal, tenant: str, years: int, *, progress: Progress | None = None
) -> TenantInfo:
    authorize(who, Op.TENANT_PROOF_YEARS, tenant=tenant)
    return contract.set_proof_years(ctx, tenant, years, progress=progress, who=who)


def list_all(ctx: VaultContext, who: Principal) -> Result:
    authorize(who, Op.TENANT_LIST)
    return Result(
        {
            "tenants": [
                {
                    "tenant": t.id,
                    "proof_years": t.proof_years,
                    "service_ended_on": t.service_ended_on.isoformat() if t.service_ended_on else None,
                }
                for t in list_tenants(ctx.sessions)
            ]
        }
    )
