"""API keys: created by operators (any tenant, any role) and organisation admins (their own
tenant; technician, auditor and org_admin keys), listed and revoked the same way."""

from __future__ import annotations

import datetime as dt

from vault.access import apikeys
from vault.access.permissions import ORG_ADMIN_GRANTS, Op, authorize, scope_tenant
from vault.access.principal import Principal, Role, parse_role
from vault.context import VaultContext
from vault.errors import Forbidden, InputError
from vault.evidence.manifest import iso
from vault.journal.log import record
from vault.service.result import Result
from vault.tenants.registry import get_tenant


def create(
    ctx: VaultContext,
    who: Principal,
    *,
    tenant: str | None,
    role: str,
    expires_at: dt.datetime | None = None,
    label: str | None = None,
) -> Result:
    """A new key, shown once in the result (``key``); only its hash is kept."""
    r = parse_role(role)
    authorize(who, Op.KEY_CREATE, tenant=tenant)
    if who.role is Role.ORG_ADMIN and not who.local:
        if tenant is None:
            tenant = who.tenant
        if r not in ORG_ADMIN_GRANTS:
            raise Forbidden(
                f"an org_admin may not create {r.value} keys",
                detail="allowed: " + ", ".join(sorted(g.value for g in ORG_ADMIN_GRANTS)),
            )
    if r is not Role.OPERATOR:
        if tenant is None:
            raise InputError(f"a {r.value} key belongs to one tenant: give --tenant")
        get_tenant(ctx.sessions, tenant)
    elif tenant is not None:
        raise InputError("operator keys are platform-wide: give no tenant")
    with ctx.sessions() as s:
        secret_key, row = apikeys.new_key(
            s, tenant=tenant, role=r, created_by=who.actor, now=ctx.now(), expires_at=expires_at, label=label
        )
        record(
            s,
            ctx,
            who,
            "key_create",
            tenant=tenant,
            key=row.id,
            key_role=r.value,
            expires_at=iso(expires_at) if expires_at else None,
        )
        s.commit()
        info = apikeys.KeyInfo.of(row)
    return Result({"key": secret_key, **info.as_json()})


def list_(ctx: VaultContext, who: Principal, *, tenant: str | None = None) -> Result:
    authorize(who, Op.KEY_LIST)
    keys = apikeys.list_keys(ctx.sessions, tenant=scope_tenant(who, tenant))
    return Result({"keys": [k.as_json() for k in keys]})


def revoke(ctx: VaultContext, who: Principal, key_id: str) -> Result:
    authorize(who, Op.KEY_REVOKE)
    with ctx.sessions() as s:
        row = apikeys.get_key(s, key_id, tenant=who.tenant)
        if row.revoked_at is None:
            row.revoked_at = ctx.now()
            row.revoked_by = who.actor
            record(s, ctx, who, "key_revoke", tenant=row.tenant_id, key=row.id)
        s.commit()
        info = apikeys.KeyInfo.of(row)
    return Result(info.as_json())
