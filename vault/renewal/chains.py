"""An item's archive-timestamp chains, as the index and the renewal stamps make them.

A chain starts at an *origin*: ``batch:<seq>`` (the item's path in its batch tree and the
batch's token, SHA-256) or ``stamp:<seq>`` (a hash-tree renewal that re-hashed the item with
a stronger algorithm). Each timestamp renewal covering that origin appends one archive
timestamp to the chain (RFC 4998 5.2). An item's record is its batch chain, then one chain
per hash-tree renewal that covered it, oldest first (RFC 4998 5.3).

Every stamp's leaves come from the index; the archive timestamps built from them are checked
by :func:`vault.ers.verify.verify_record` against the tokens, so a rewritten row makes the
record fail, never pass.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.batch.manifest import parse_path
from vault.errors import InputError
from vault.ers.algorithms import digest, hash_fn, node_hash
from vault.ers.asn1 import ArchiveTimeStamp
from vault.ers.build import initial_ats
from vault.ers.renew import hash_renewal_ats, renewal_ats
from vault.ers.token import token_from_tsr
from vault.index.models import ArchiveStamp, Batch, Item, StampLeaf
from vault.tree.hashtree import HashTree, build_tree

Chain = list[ArchiveTimeStamp]


def origin_leaf(alg: str, tokens: Sequence[bytes]) -> bytes:
    """The leaf a timestamp renewal gives a chain whose archive timestamps carry ``tokens``
    (ContentInfo DER, oldest first): as :func:`vault.ers.renew.renewal_leaf` computes it from
    the chain, without building the chain (its group is the hashes of its tokens)."""
    group = [digest(alg, t) for t in tokens]
    return group[0] if len(group) == 1 else node_hash(alg, group)


@dataclass(frozen=True)
class StampTree:
    stamp: ArchiveStamp
    tree: HashTree
    positions: dict[str, int]  # covers -> position

    @property
    def token(self) -> bytes:
        return token_from_tsr(self.stamp.tsr)


class TreeCache:
    """Stamp trees, rebuilt from their leaves once per process (a hash-tree renewal may have
    millions of leaves; a stamp never changes once written)."""

    def __init__(self, size: int = 8) -> None:
        self._trees: OrderedDict[tuple[int, bytes], StampTree] = OrderedDict()
        self._size = size
        self._lock = Lock()

    def get(self, s: Session, stamp: ArchiveStamp) -> StampTree:
        key = (stamp.seq, hashlib.sha256(stamp.tsr).digest())  # one process may open several vaults
        with self._lock:
            hit = self._trees.get(key)
            if hit is not None:
                self._trees.move_to_end(key)
                return hit
        rows = s.execute(
            select(StampLeaf.position, StampLeaf.covers, StampLeaf.leaf)
            .where(StampLeaf.stamp_seq == stamp.seq)
            .order_by(StampLeaf.position)
        ).all()
        if not rows or [r.position for r in rows] != list(range(len(rows))):
            raise InputError(f"archive stamp {stamp.seq}: its leaves are missing or out of order")
        tree = StampTree(
            stamp,
            build_tree([bytes(r.leaf) for r in rows], hash_fn(stamp.algorithm)),
            {r.covers: r.position for r in rows},
        )
        with self._lock:
            self._trees[key] = tree
            while len(self._trees) > self._size:
                self._trees.popitem(last=False)
        return tree


TREES = TreeCache()


def _stamps_covering(s: Session, covers: str, kind: str) -> list[ArchiveStamp]:
    return list(
        s.scalars(
            select(ArchiveStamp)
            .join(StampLeaf, StampLeaf.stamp_seq == ArchiveStamp.seq)
            .where(StampLeaf.covers == covers, ArchiveStamp.kind == kind)
            .order_by(ArchiveStamp.seq)
        )
    )


def renewals_of(s: Session, origin: str) -> list[ArchiveStamp]:
    """The timestamp renewals of a chain origin, oldest first."""
    return _stamps_covering(s, origin, "timestamp")


def extend(s: Session, origin: str, chain: Chain, memo: dict[str, Any] | None = None) -> Chain:
    """Append to ``chain`` (its first archive timestamp built) the origin's renewals."""
    stamps = memo.get(origin) if memo is not None else None
    if stamps is None:
        stamps = renewals_of(s, origin)
        if memo is not None:
            memo[origin] = stamps
    for stamp in stamps:
        t = TREES.get(s, stamp)
        chain.append(renewal_ats(chain, t.tree.path(t.positions[origin]), t.token))
    return chain


def item_chains(s: Session, item: Item, batch: Batch, memo: dict[str, Any] | None = None) -> list[Chain]:
    """The item's chains, oldest first: its batch chain (with its timestamp renewals), then
    one per hash-tree renewal of the item (with theirs). ``memo`` (one per run over many
    items) keeps each batch's token and each origin's renewals; with ``memo["rehashed"]``
    (the ``item:<id>`` that any hash-tree renewal covers) items outside it skip a query."""
    if item.path is None or item.evidence is None:
        raise InputError(f"item {item.id} has no path: not sealed")
    leaf, path = parse_path(json.loads(item.path))
    origin = f"batch:{batch.seq}"
    memo_token = memo.setdefault(f"token:{origin}", None) if memo is not None else None
    token = memo_token or token_from_tsr(batch.tsr)
    if memo is not None:
        memo[f"token:{origin}"] = token
    chains = [extend(s, origin, [initial_ats(leaf, path, token)], memo)]
    rehashed = memo.get("rehashed") if memo is not None else None
    if rehashed is not None and f"item:{item.id}" not in rehashed:
        return chains
    for stamp in _stamps_covering(s, f"item:{item.id}", "hash"):
        t = TREES.get(s, stamp)
        position = t.positions[f"item:{item.id}"]
        first = hash_renewal_ats(t.tree.levels[0][position], t.tree.path(position), t.token, alg=stamp.algorithm)
        chains.append(extend(s, f"stamp:{stamp.seq}", [first], memo))
    return chains
