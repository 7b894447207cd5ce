"""Journal entries as data: the canonical body a leaf hashes (no I/O).

An entry says who did what, when, to what. Its leaf is SHA-256 of the RFC 8785 bytes of the
body, whose ``type`` (``vault-journal/1``) keeps it distinct from evidence leaves in the
same batch tree. Subjects appear only as keyed pseudonyms (see ``KeyRing.pseudonym``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from vault.batch.manifest import parse_path
from vault.errors import InputError
from vault.evidence.canonical import canonical
from vault.evidence.manifest import iso
from vault.tree.hashtree import root_from_path

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


def names_destroyed(body: dict[str, Any], item_id: str) -> bool:
    """Does a destruction record (``destroy``: ``details.items[].id``; ``subject_erase``:
    ``details.erased``) name this item? Any other shape (a body read back) names nothing."""
    details = body.get("details")
    if not isinstance(details, dict):
        return False
    erased, items = details.get("erased"), details.get("items")
    return (isinstance(erased, list) and item_id in erased) or (
        isinstance(items, list) and any(isinstance(x, dict) and x.get("id") == item_id for x in items)
    )


def path_problem(leaf: object, path_text: object, root_hex: object) -> str | None:
    """Why an entry's stored path does not lead from its leaf to its batch root, or None.

    Every argument comes from the index, so each is checked for its type first."""
    from vault.verify.proof_checks import parse_json

    try:
        if path_text is None:
            raise InputError("the path is NULL")
        path_leaf, path = parse_path(parse_json(path_text, "path", binary=False))
        if path_leaf != leaf or root_from_path(path_leaf, path).hex() != root_hex:
            return "path does not lead to its batch's root"
    except (InputError, ValueError) as err:
        return f"path unreadable: {err}"
    return None


def parse_body(body: object) -> dict[str, Any]:
    """An entry's body as read back: an :class:`InputError` when it is not the JSON object the
    vault writes (bytes, JSON, at most ``MAX_JSON_DEPTH`` deep)."""
    from vault.verify.proof_checks import load_json

    return load_json(body, "journal.body")


def new_entry_id(at: dt.datetime) -> str:
    from vault.evidence.ids import new_item_id

    return "jr_" + new_item_id(at)[3:]
