"""API keys: random, shown once, stored only as a SHA-256, scoped, expiring, revocable.

A key reads ``vk_<id>_<secret>``: the id finds the row, the secret (256 random bits) is
compared by its SHA-256 in constant time. A secret of that strength needs no slow hash; a
stolen index gives no usable key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vault.access.principal import Principal, Role, parse_role
from vault.errors import InputError, NotFound, Unauthenticated
from vault.evidence.manifest import iso
from vault.index.models import ApiKey

KEY_RE = re.compile(r"^vk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class KeyInfo:
    """What anyone may see of a key: never its secret nor its hash."""

    id: str
    tenant: str | None
    role: str
    label: str | None
    created_at: str
    created_by: str
    expires_at: str | None
    revoked_at: str | None

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        return cls(
            id=row.id,
            tenant=row.tenant_id,
            role=row.role,
            label=row.label,
            created_at=iso(row.created_at),
            created_by=row.created_by,
            expires_at=iso(row.expires_at) if row.expires_at else None,
            revoked_at=iso(row.revoked_at) if row.revoked_at else None,
        )

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _digest(secret_key: str) -> str:
    return hashlib.sha256(secret_key.encode()).hexdigest()


def new_key(
    s: Session,
    *,
    tenant: str | None,
    role: Role,
    created_by: str,
    now: dt.datetime,
    expires_at: dt.datetime | None = None,
    label: str | None = None,
) -> tuple[str, ApiKey]:
    """(the key, shown once; its row, added to ``s``: the caller commits)."""
    if (role is Role.OPERATOR) != (tenant is None):
        raise InputError("operator keys are platform-wide; every other key belongs to one tenant")
    if expires_at is not None and expires_at <= now:
        raise InputError("the expiry is already past", detail=iso(expires_at))
    if label is not None and (len(label) > 200 or not label.isprintable()):
        raise InputError("a key label is at most 200 printable characters")
    key_id = secrets.token_hex(8)
    secret_key = f"vk_{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        id=key_id,
        tenant_id=tenant,
        role=role.value,
        key_sha256=_digest(secret_key),
        label=label,
        created_at=now,
        created_by=created_by,
        expires_at=expires_at,
    )
    s.add(row)
    return secret_key, row


def authenticate(sessions: sessionmaker[Session], presented: str, now: dt.datetime) -> Principal:
    """The principal of a presented key, or Unauthenticated (one message for every reason a
    key fails, so that a caller learns nothing about other keys)."""
    m = KEY_RE.match(presented.strip())
    refused = Unauthenticated("invalid API key", detail="unknown, malformed, expired or revoked")
    if not m:
        raise refused
    with sessions() as s:
        row = s.get(ApiKey, m.group(1))
    if row is None or not hmac.compare_digest(row.key_sha256, _digest(presented.strip())):
        raise refused
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise refused
    return Principal(actor=f"key:{row.id}", role=parse_role(row.role), tenant=row.tenant_id, key_id=row.id)


def list_keys(sessions: sessionmaker[Session], *, tenant: str | None) -> list[KeyInfo]:
    with sessions() as s:
        q = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        if tenant is not None:
            q = q.where(ApiKey.tenant_id == tenant)
        return [KeyInfo.of(r) for r in s.scalars(q).all()]


def get_key(s: Session, key_id: str, *, tenant: str | None) -> ApiKey:
    """A key row, scoped: another tenant's key is "not found"."""
    row = s.get(ApiKey, key_id) if re.fullmatch(r"[0-9a-f]{16}", key_id or "") else None
    if row is None or (tenant is not None and row.tenant_id != tenant):
        raise NotFound("no such API key", detail=key_id)
    return row
