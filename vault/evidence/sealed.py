"""An index row's evidence, checked against what was sealed.

The index is not the evidence: a value that leaves the vault (a destruction record, a subject
access export) or enters a sealed record is taken from ``evidence.json`` after checking that it
hashes to the item's leaf, and, for a sealed item, that the leaf is in its batch as stored WORM
(``leaves.json``). Every failure is a reason (a string), never an exception: the caller
reports the item and goes on with the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

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
