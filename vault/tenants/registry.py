"""Looking tenants up and creating them. Their contract (proof years, end of service) is
decided in ``vault.retention.contract``; this module only knows that a tenant exists."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vault.errors import InputError, NotFound
from vault.index.models import Tenant
from vault.retention.rules import check_proof_years

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")


def check_name(what: str, value: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise InputError(
            f"invalid {what} {value!r}",
            detail="1-64 characters: letters, digits, '.', '_', ':', '@', '-'; starting with a letter or digit",
        )
    return value


def get_tenant(sessions: sessionmaker[Session], tenant_id: str) -> Tenant:
    """The tenant, or NotFound (an unknown tenant is a clear error, never created on the fly)."""
    check_name("tenant", tenant_id)
    with sessions() as s:
        t = s.get(Tenant, tenant_id)
    if t is None:
        raise NotFound(f"no such tenant {tenant_id!r}", detail="an operator creates it with `vault tenant create`")
    return t


def ensure_tenant(
    sessions: sessionmaker[Session], tenant_id: str, *, proof_years: int, now: dt.datetime
) -> tuple[Tenant, bool]:
    """(the tenant, created now?) — created with ``proof_years`` on first use."""
    check_name("tenant", tenant_id)
    with sessions() as s:
        t = s.get(Tenant, tenant_id)
        if t is not None:
            return t, False
        t = Tenant(id=tenant_id, proof_years=check_proof_years(proof_years), created_at=now)
        s.add(t)
        try:
            s.commit()
        except IntegrityError:  # created concurrently
            s.rollback()
            existing = s.get(Tenant, tenant_id)
            assert existing is not None
            return existing, False
        return t, True


def list_tenants(sessions: sessionmaker[Session]) -> list[Tenant]:
    with sessions() as s:
        return list(s.scalars(select(Tenant).order_by(Tenant.id)).all())
