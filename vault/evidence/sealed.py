"""An index row's evidence, checked against what was sealed.

The index is not the evidence: a value that leaves the vault (a destruction record, a subject
access export) or enters a sealed record is taken from ``evidence.json`` after checking that it
hashes to the item's leaf, and, for a sealed item, that the leaf is in its batch as stored WORM
(``leaves.json``). Every failure is a reason (a string), never an exception: the caller
reports the item and goes on with the others.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

from vault.envelope.stream import decrypt_bytes, encrypt_bytes
from vault.errors import InputError
from vault.evidence.manifest import SALT_LEN, is_salted
from vault.index.models import Item


def evidence_of(
    item: Item, batch_leaves: Callable[[int], frozenset[bytes] | str] | None = None
) -> dict[str, Any] | str:
    """The parsed ``evidence.json`` of ``item`` if it is what was sealed, else why not."""
    ev, leaf = item.evidence, item.leaf
    if not isinstance(ev, bytes | bytearray | memoryview) or not isinstance(leaf, bytes | bytearray | memoryview):
        return "items.evidence or items.leaf is missing or not bytes in the index"
    ev, leaf = bytes(ev), bytes(leaf)
    if hashlib.sha256(ev).digest() != leaf:
        return "items.evidence does not hash to items.leaf"
    try:
        doc = json.loads(ev)
    except (ValueError, RecursionError):
        return "items.evidence is not JSON"
    if not isinstance(doc, dict) or doc.get("id") != item.id:
        return "items.evidence names another item"
    if batch_leaves is not None and isinstance(item.batch_seq, int):
        leaves = batch_leaves(item.batch_seq)
        if isinstance(leaves, str):
            return leaves
        if leaf not in leaves:
            return f"its leaf is not in batch {item.batch_seq} as stored"
    return doc


def content_sha256(doc: dict[str, Any]) -> str | None:
    content = doc.get("content")
    value = content.get("sha256") if isinstance(content, dict) else None
    return value if isinstance(value, str) else None


def salt_context(item_id: str) -> bytes:
    """The EVS1 context that binds a sealed content salt to its item (the AES-GCM associated
    data holds it: a salt copied to another item does not decrypt)."""
    return item_id.encode() + b"/salt"


def new_salt() -> bytes:
    return os.urandom(SALT_LEN)


def seal_salt(dek: bytes, item_id: str, salt: bytes) -> bytes:
    """The content salt encrypted under the item's data key (EVS1, AES-256-GCM)."""
    return encrypt_bytes(dek, salt_context(item_id), salt)


def open_salt(dek: bytes, item_id: str, evidence: dict[str, Any]) -> bytes:
    """The content salt of a ``vault-evidence/2`` manifest, decrypted with its data key.

    Raises :class:`InputError` (no well-formed ``content.salt_sealed``) or
    ``DecryptionError`` (tampered, another item's, or another key)."""
    if not is_salted(evidence):
        raise InputError("the evidence has no salted content digest")
    content = evidence.get("content")
    sealed = content.get("salt_sealed") if isinstance(content, dict) else None
    if not isinstance(sealed, str):
        raise InputError("content.salt_sealed is missing from the evidence")
    try:
        raw = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError("content.salt_sealed is not base64", detail=str(e)) from None
    salt = decrypt_bytes(dek, salt_context(item_id), raw)
    if len(salt) < SALT_LEN:
        raise InputError(f"the content salt is {len(salt)} bytes, fewer than {SALT_LEN}")
    return salt
