"""The acting principal: who acts, in which role, over which tenant.

Every use case (``vault.service``) takes a principal explicitly, so two API requests of two
keys never share one. On the API a principal comes from an authenticated key
(``vault.access.apikeys``) and is scoped to that key's tenant; operator keys are platform-wide.
On the CLI it comes from ``--as``/``--role`` and acts from the vault's own host, with the
operator's access to keys and storage (``local``): see ``vault.access.permissions``.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from enum import StrEnum

from vault.errors import Forbidden, InputError


class Role(StrEnum):
    OPERATOR = "operator"
    ORG_ADMIN = "org_admin"
    TECHNICIAN = "technician"
    LEGAL = "legal"
    DPO = "dpo"
    AUDITOR = "auditor"


#: roles allowed to read archived items and the data of restricted subjects
PRIVILEGED = frozenset({Role.LEGAL, Role.DPO})


@dataclass(frozen=True)
class Principal:
    """Who acts. ``tenant`` None means platform-wide (operators, and the CLI on the host)."""

    actor: str
    role: Role
    tenant: str | None = None
    #: the API key's id when authenticated over HTTP; None on the CLI
    key_id: str | None = None
    #: acting on the vault's host through the CLI, with its keys (not over the network)
    local: bool = False

    def as_json(self) -> dict[str, str | None]:
        return {"actor": self.actor, "role": self.role.value, "tenant": self.tenant, "key": self.key_id}

    def sees_tenant(self, tenant: str) -> bool:
        """May this principal see anything of ``tenant`` at all? (Others' tenants are "not found".)"""
        return self.tenant is None or self.tenant == tenant

    def require(self, allowed: frozenset[Role], what: str) -> None:
        if self.role not in allowed:
            raise Forbidden(
                f"{what} is restricted to the {' and '.join(sorted(r.value for r in allowed))} roles",
                detail=f"{self.actor} acts as {self.role.value}",
            )


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InputError(
            f"unknown role {value!r}", detail="expected one of " + ", ".join(r.value for r in Role)
        ) from None


def principal_from_env(actor: str | None = None, role: str | None = None, tenant: str | None = None) -> Principal:
    """The CLI's principal: ``--as``/``--role`` first, then ``VAULT_ACTOR``/``VAULT_ROLE``, then
    the OS user as operator. It acts locally (on the vault's host, with its keys)."""
    name = actor or os.environ.get("VAULT_ACTOR") or _os_user()
    if not name.strip() or len(name) > 200:
        raise InputError("the actor name must be 1-200 characters")
    r = parse_role(role or os.environ.get("VAULT_ROLE") or Role.OPERATOR.value)
    return Principal(name, r, tenant=tenant, local=True)


def _os_user() -> str:
    try:
        return "os:" + getpass.getuser()
    except (KeyError, OSError):
        return "os:unknown"


#: the vault itself (batcher, scheduled retention runs)
SYSTEM = Principal("vault", Role.OPERATOR, local=True)
