"""Journal entries as data: the canonical body a leaf hashes (no I/O).

An entry says who did what, when, to what. Its leaf is SHA-256 of the RFC 8785 bytes of the
body, whose ``type`` (``vault-journal/1``) keeps it distinct from evidence leaves in the
same batch tree. Subjects appear only as keyed pseudonyms (see ``KeyRing.pseudonym``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from vault.evidence.canonical import canonical
from vault.evidence.manifest import iso

JOURNAL_TYPE = "vault-journal/1"


@dataclass(frozen=True)
class EntryBody:
    id: str
    at: dt.datetime
    actor: str
    role: str
    action: str
    tenant: str | None
    subject_ref: str | None
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "type": JOURNAL_TYPE,
            "id": self.id,
            "at": iso(self.at),
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "tenant": self.tenant,
            "subject_ref": self.subject_ref,
            "details": self.details,
        }

    def encode(self) -> bytes:
        return canonical(self.as_json())


def leaf_of(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


def parse_body(body: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(body)
    return obj


def new_entry_id(at: dt.datetime) -> str:
    from vault.evidence.ids import new_item_id

    return "jr_" + new_item_id(at)[3:]
