"""The batch manifest (``batch.json``) and item paths (``path.json``): pure data, no I/O.

The first leaf of every batch's tree is the previous batch's root (32 zero bytes for the
first batch). The timestamped root therefore commits to the whole chain before it: a
deleted, replaced or reordered batch breaks the next batch's proof, and the chain link is
covered by the TSA's token, not only by the provider's own seal.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from vault.errors import InputError
from vault.evidence.canonical import canonical
from vault.evidence.manifest import iso
from vault.tree.hashtree import HashTree, ReducedHashTree

BATCH_TYPE = "vault-batch/1"
PATH_TYPE = "vault-path/1"
TREE_RULE = "rfc4998-binary-sorted/1"
GENESIS_ROOT = "00" * 32


def path_json(leaf: bytes, path: ReducedHashTree, index: int) -> dict[str, Any]:
    return {
        "type": PATH_TYPE,
        "hash_algorithm": "sha256",
        "leaf": leaf.hex(),
        "leaf_index": index,
        "reduced_hash_tree": [[h.hex() for h in level] for level in path],
    }


def parse_path(obj: Any) -> tuple[bytes, ReducedHashTree]:
    try:
        if obj.get("hash_algorithm") != "sha256":
            raise ValueError(f"unsupported hash algorithm {obj.get('hash_algorithm')!r}")
        leaf = bytes.fromhex(obj["leaf"])
        levels = [[bytes.fromhex(h) for h in level] for level in obj["reduced_hash_tree"]]
        # the only shapes build_tree produces: [item, sibling] or [item] first, then one sibling per level
        if not levels or not 1 <= len(levels[0]) <= 2 or any(len(level) != 1 for level in levels[1:]):
            raise ValueError("reduced hash tree has a shape this vault never produces")
        if any(len(h) != 32 for level in levels for h in level) or len(leaf) != 32:
            raise ValueError("hash values must be 32 bytes (SHA-256)")
        return leaf, levels
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise InputError("malformed path", detail=str(e)) from e


def batch_manifest(
    *,
    seq: int,
    created_at: dt.datetime,
    tree: HashTree,
    previous_root: str,
    retain_until: dt.datetime,
    journal_entries: int = 0,
) -> bytes:
    """Canonical bytes of ``batch.json`` (the exact bytes the seal signs)."""
    if tree.levels[0][0].hex() != previous_root:
        raise InputError("the first leaf of a batch tree must be the previous root")
    return canonical(
        {
            "type": BATCH_TYPE,
            "seq": seq,
            "created_at": iso(created_at),
            "hash_algorithm": "sha256",
            "tree": TREE_RULE,
            "root": tree.root.hex(),
            "previous_root": previous_root,
            "leaf_count": tree.size,
            "chain_path": path_json(tree.levels[0][0], tree.path(0), 0),
            # counts only: batches mix tenants, ids would leak across them. Leaves are
            # [previous root, items..., journal entries...]
            "items": tree.size - 1 - journal_entries,
            "journal_entries": journal_entries,
            "retain_until": iso(retain_until),
        }
    )
