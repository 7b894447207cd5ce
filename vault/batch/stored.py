"""The leaves of a sealed batch as stored WORM, checked against the batch's stored root."""

from __future__ import annotations

import json

from vault.context import VaultContext
from vault.errors import NotFound, StorageError
from vault.index.models import Batch
from vault.tree.hashtree import build_tree


class StoredLeaves:
    """``leaves(seq)``: the frozenset of leaves of batch ``seq`` as stored, or why not. Cached."""

    def __init__(self, ctx: VaultContext) -> None:
        self.ctx = ctx
        self._cache: dict[int, frozenset[bytes] | str] = {}

    def __call__(self, seq: int) -> frozenset[bytes] | str:
        if seq not in self._cache:
            self._cache[seq] = self._load(seq)
        return self._cache[seq]

    def _load(self, seq: int) -> frozenset[bytes] | str:
        with self.ctx.sessions() as s:
            b = s.get(Batch, seq)
        if b is None:
            return f"batch {seq} is not in the index"
        try:
            versions = json.loads(b.versions)
            manifest = json.loads(self.ctx.store.get(b.object_prefix + "batch.json", versions["batch.json"]))
            leaves = [
                bytes.fromhex(h)
                for h in json.loads(self.ctx.store.get(b.object_prefix + "leaves.json", versions["leaves.json"]))[
                    "leaves"
                ]
            ]
        except (NotFound, StorageError, KeyError, TypeError, ValueError) as e:
            return f"batch {seq} as stored is unreadable: {e}"
        if not leaves or build_tree(leaves).root.hex() != manifest.get("root") or manifest.get("seq") != seq:
            return f"batch {seq}: its stored leaves do not hash to its stored root"
        return frozenset(leaves)
