"""Retention: the policy in force, plans, runs and the intermediate archive."""

from __future__ import annotations

import datetime as dt

from vault.access.permissions import Op, authorize, scope_tenant
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.retention.apply import RunResult, apply_retention
from vault.retention.archive import request_archive
from vault.retention.facts import Progress
from vault.retention.plan import Plan, make_plan
from vault.retention.policy import Policy
from vault.service.result import Result


def policy(ctx: VaultContext | None, who: Principal, loaded: Policy) -> Policy:
    authorize(who, Op.RETENTION_POLICY)
    return loaded


def plan(ctx: VaultContext, who: Principal, *, at: dt.datetime | None = None, tenant: str | None = None) -> Plan:
    authorize(who, Op.RETENTION_PLAN)
    return make_plan(ctx, at or ctx.now(), tenant=scope_tenant(who, tenant))


def apply(
    ctx: VaultContext, who: Principal, *, tenant: str | None = None, progress: Progress | None = None
) -> RunResult:
    authorize(who, Op.RETENTION_APPLY)
    return apply_retention(ctx, tenant=scope_tenant(who, tenant), progress=progress, who=who)


def archive(
    ctx: VaultContext, who: Principal, *, tenant: str, session: str | None = None, item: str | None = None
) -> Result:
    authorize(who, Op.RETENTION_ARCHIVE, tenant=tenant)
    return Result(request_archive(ctx, tenant=tenant, session=session, item=item, who=who))
