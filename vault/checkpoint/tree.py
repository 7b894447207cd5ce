"""The checkpoint log's Merkle tree: RFC 6962 / RFC 9162 hashing, proofs and their checks. Pure.

Leaf ``i`` of the log is batch ``i + 1``: its data is the batch's sealed ``batch.json`` bytes
(docs/long-term.md, "Checkpoints"). Hashing is RFC 6962 section 2.1: a leaf hashes to
SHA-256(0x00 ‖ data), a node to SHA-256(0x01 ‖ left ‖ right), left to right, the tree of
``n`` leaves split at the largest power of two smaller than ``n``. Proofs are RFC 6962's audit
paths and consistency proofs (RFC 9162 sections 2.1.3 and 2.1.4), hash for hash what
``golang.org/x/mod/sumdb/tlog`` (``ProveRecord``, ``ProveTree``) makes and checks
(``CheckRecord``, ``CheckTree``); the algorithms below follow that package's.

Storage: only the hashes of *complete* subtrees are kept, each once. A complete subtree of
``2**level`` leaves starting at leaf ``k << level`` is the node ``(level, k)``; it is complete
when leaf ``((k + 1) << level) - 1`` is appended, so appending leaf ``size - 1`` stores the
nodes ``(level, (size >> level) - 1)`` for ``level = 0 .. trailing_zeros(size)``: on average
two hashes per leaf (tlog's stored hashes; Crosby and Wallach, section 3.3). Any tree hash
or proof then needs O(log n) (tree hash) or O(log² n) (proofs) stored hashes, never a
recomputation from the leaves. :func:`prove` computes a proof in two passes so that a
reader can fetch every stored hash it needs in one go.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

HASH_SIZE = 32
#: a complete subtree: (level, k) covers leaves [k << level, (k + 1) << level)
Node = tuple[int, int]
#: the stored hash of a node
Get = Callable[[int, int], bytes]
#: many stored hashes at once, in the order asked
Reader = Callable[[Sequence[Node]], Sequence[bytes]]

_ZERO = bytes(HASH_SIZE)


class ProofError(ValueError):
    """A proof that does not check, or inputs no proof can exist for."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 ‖ data) (tlog.RecordHash)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node: SHA-256(0x01 ‖ left ‖ right) (tlog.NodeHash)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _maxpow2(n: int) -> int:
    """tlog's maxpow2: the largest power of two smaller than ``n`` (1 for n <= 2)."""
    return 1 << max(0, (n - 1).bit_length() - 1)


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def stored_nodes(size: int) -> list[Node]:
    """The nodes completed by appending leaf ``size - 1``, by level (what the row of ``size`` holds)."""
    if size < 1:
        raise ValueError("a log size is at least 1")
    return [(level, (size >> level) - 1) for level in range(_trailing_zeros(size) + 1)]


def row_of(node: Node) -> tuple[int, int]:
    """Where a node's hash is stored: (the size whose append completed it, its position there)."""
    level, k = node
    return (k + 1) << level, level


def append_hashes(size: int, leaf: bytes, get: Get) -> list[bytes]:
    """The hashes to store when leaf ``size - 1`` (hash ``leaf``) is appended, one per node of
    :func:`stored_nodes` (tlog.StoredHashesForRecordHash). Reads ``trailing_zeros(size)``
    earlier hashes: the left siblings on the tree's right edge."""
    out = [leaf]
    h = leaf
    for level in range(1, _trailing_zeros(size) + 1):
        h = node_hash(get(level - 1, (size >> (level - 1)) - 2), h)
        out.append(h)
    return out


def _range_nodes(lo: int, hi: int) -> list[Node]:
    """The complete subtrees making up leaves [lo, hi), left to right (tlog.subTreeIndex)."""
    nodes = []
    while lo < hi:
        k = _maxpow2(hi - lo + 1)
        level = k.bit_length() - 1
        if lo & (k - 1):
            raise AssertionError("bad math in _range_nodes")
        nodes.append((level, lo >> level))
        lo += k
    return nodes


def range_hash(lo: int, hi: int, get: Get) -> bytes:
    """MTH of leaves [lo, hi) (lo aligned as in every RFC 6962 split) from stored hashes."""
    hashes = [get(level, k) for level, k in _range_nodes(lo, hi)]
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def tree_hash(size: int, get: Get) -> bytes:
    """The root of the log of ``size`` leaves (size >= 1; RFC 6962's size 0 is never published)."""
    if size < 1:
        raise ValueError("a checkpoint covers at least one batch")
    return range_hash(0, size, get)


def _inclusion(lo: int, hi: int, n: int, get: Get) -> list[bytes]:
    if hi - lo == 1:
        return []
    k = _maxpow2(hi - lo)
    if n < lo + k:
        return [*_inclusion(lo, lo + k, n, get), range_hash(lo + k, hi, get)]
    return [*_inclusion(lo + k, hi, n, get), range_hash(lo, lo + k, get)]


def _consistency(lo: int, hi: int, n: int, get: Get) -> list[bytes]:
    if n == hi:
        return [] if lo == 0 else [range_hash(lo, hi, get)]
    k = _maxpow2(hi - lo)
    if n <= lo + k:
        return [*_consistency(lo, lo + k, n, get), range_hash(lo + k, hi, get)]
    return [*_consistency(lo + k, hi, n, get), range_hash(lo, lo + k, get)]


def inclusion_proof(index: int, size: int, get: Get) -> list[bytes]:
    """RFC 6962 audit path of leaf ``index`` in the tree of ``size`` leaves (tlog.ProveRecord)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    return _inclusion(0, size, index, get)


def consistency_proof(old_size: int, new_size: int, get: Get) -> list[bytes]:
    """RFC 6962 consistency proof from ``old_size`` to ``new_size`` (tlog.ProveTree)."""
    if not 1 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from {old_size} to {new_size}")
    return _consistency(0, new_size, old_size, get)


def prove(compute: Callable[[Get], list[bytes]], read: Reader) -> list[bytes]:
    """Run ``compute`` (e.g. ``lambda get: inclusion_proof(i, n, get)``) reading every stored
    hash it needs in ONE call of ``read``: a first pass only records which nodes it asks for
    (the shape of a proof never depends on hash values)."""
    wanted: dict[Node, None] = {}

    def record(level: int, k: int) -> bytes:
        wanted[(level, k)] = None
        return _ZERO

    compute(record)
    nodes = list(wanted)
    hashes = read(nodes)
    if len(hashes) != len(nodes):
        raise ProofError(f"asked for {len(nodes)} stored hashes, got {len(hashes)}")
    got = dict(zip(nodes, hashes, strict=True))
    return compute(lambda level, k: got[(level, k)])


# -- checks (a verifier's side: only the proof, sizes and roots) -------------------------------


def _run_inclusion(p: Sequence[bytes], lo: int, hi: int, n: int, leaf: bytes) -> bytes:
    if hi - lo == 1:
        if p:
            raise ProofError("the inclusion proof has extra hashes")
        return leaf
    if not p:
        raise ProofError("the inclusion proof is too short")
    k = _maxpow2(hi - lo)
    if n < lo + k:
        return node_hash(_run_inclusion(p[:-1], lo, lo + k, n, leaf), p[-1])
    return node_hash(p[-1], _run_inclusion(p[:-1], lo + k, hi, n, leaf))


def check_inclusion(proof: Sequence[bytes], size: int, root: bytes, index: int, leaf: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows leaf hash ``leaf`` at ``index`` in the
    tree of ``size`` leaves whose root is ``root`` (tlog.CheckRecord)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    if _run_inclusion(list(proof), 0, size, index, leaf) != root:
        raise ProofError(f"leaf {index} is not under the root of the tree of {size}")


def _run_consistency(p: Sequence[bytes], lo: int, hi: int, n: int, old: bytes) -> tuple[bytes, bytes]:
    if n == hi:
        if lo == 0:
            if p:
                raise ProofError("the consistency proof has extra hashes")
            return old, old
        if len(p) != 1:
            raise ProofError("the consistency proof has the wrong length")
        return p[0], p[0]
    if not p:
        raise ProofError("the consistency proof is too short")
    k = _maxpow2(hi - lo)
    if n <= lo + k:
        oh, th = _run_consistency(p[:-1], lo, lo + k, n, old)
        return oh, node_hash(th, p[-1])
    oh, th = _run_consistency(p[:-1], lo + k, hi, n, old)
    return node_hash(p[-1], oh), node_hash(p[-1], th)


def check_consistency(proof: Sequence[bytes], new_size: int, new_root: bytes, old_size: int, old_root: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows the tree of ``old_size`` (root
    ``old_root``) is a prefix of the tree of ``new_size`` (root ``new_root``) (tlog.CheckTree)."""
    if not 1 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from {old_size} to {new_size}")
    old, new = _run_consistency(list(proof), 0, new_size, old_size, old_root)
    if old != old_root or new != new_root:
        raise ProofError(f"the tree of {new_size} does not extend the tree of {old_size}: history rewritten")


# -- an in-memory log (tests, rebuilds, offline tools) ------------------------------------------


@dataclass
class MemoryLog:
    """The same stored hashes as the index keeps, in memory."""

    rows: list[list[bytes]] = field(default_factory=list)  # rows[size - 1]

    @property
    def size(self) -> int:
        return len(self.rows)

    def get(self, level: int, k: int) -> bytes:
        size, pos = row_of((level, k))
        if size > self.size:
            raise ProofError(f"node ({level}, {k}) is not in a log of {self.size}")
        return self.rows[size - 1][pos]

    def read(self, nodes: Sequence[Node]) -> list[bytes]:
        return [self.get(level, k) for level, k in nodes]

    def append(self, data: bytes) -> bytes:
        """Append a leaf's data; the new root."""
        self.rows.append(append_hashes(self.size + 1, leaf_hash(data), self.get))
        return self.root()

    def extend(self, items: Iterable[bytes]) -> MemoryLog:
        for data in items:
            self.append(data)
        return self

    def root(self, size: int | None = None) -> bytes:
        return tree_hash(self.size if size is None else size, self.get)


def mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962's Merkle Tree Hash straight from its definition, over leaf *data* (tests)."""
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = _maxpow2(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))
