"""The acting principal (who) and role-based read rules.

The CLI runs with the operator's own access to keys and storage, so roles here are
declarations that the journal records and that reads obey (restricted subjects, archived
items and objected purposes need the legal or DPO role); the API (later) authenticates them.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from enum import StrEnum

from vault.errors import Forbidden, InputError


class Role(StrEnum):
    OPERATOR = "operator"
    TECHNICIAN = "technician"
    LEGAL = "legal"
    DPO = "dpo"
    AUDITOR = "auditor"


#: roles allowed to read archived items and the data of restricted subjects
PRIVILEGED = frozenset({Role.LEGAL, Role.DPO})


@dataclass(frozen=True)
class Principal:
    actor: str
    role: Role

    def as_json(self) -> dict[str, str]:
        return {"actor": self.actor, "role": self.role.value}

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


def principal_from_env(actor: str | None = None, role: str | None = None) -> Principal:
    """``--as``/``--role`` first, then ``VAULT_ACTOR``/``VAULT_ROLE``, then the OS user as operator."""
    name = actor or os.environ.get("VAULT_ACTOR") or _os_user()
    if not name.strip() or len(name) > 200:
        raise InputError("the actor name must be 1-200 characters")
    return Principal(name, parse_role(role or os.environ.get("VAULT_ROLE") or Role.OPERATOR.value))


def _os_user() -> str:
    try:
        return "os:" + getpass.getuser()
    except (KeyError, OSError):
        return "os:unknown"


SYSTEM = Principal("vault", Role.OPERATOR)
