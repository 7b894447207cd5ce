"""Reduced hash trees of archive timestamps (RFC 4998 4.2-4.3), with any hash algorithm.

The vault's paths (:meth:`vault.tree.hashtree.HashTree.path`) hold the leaf and its sibling
first, then one sibling per level; a leaf promoted as the odd node of level 0 gets a first
list with itself alone (ADR 0002). RFC 4998 4.3 hashes every list, a one-value first list
too, so such a path is made RFC-exact by merging the first two lists: ``[[leaf], [s], ...]``
becomes ``[[leaf, s], ...]``, whose first hash is the parent both readings agree on.

Readers differ on a one-value *first* list: RFC 4998 4.3 read literally hashes it; Bouncy
Castle (``ERSUtil.computeNodeHash``) and RFC 6283 3.1.1 carry the value up unchanged. The
records built here never have one; :func:`root_of` follows Bouncy Castle.

Readers also differ on a *later* list of several values: RFC 4998 4.3 adds the running hash
to it and hashes the sorted lot; Bouncy Castle 1.72 hashes the list alone, then pairs it
(bouncycastle-ers note, limitation 1). Records built here hold one value in every later
list, where both agree; :func:`root_of` follows the RFC.
"""

from __future__ import annotations

from collections.abc import Sequence

from vault.errors import InputError
from vault.ers.algorithms import digest_size, node_hash

#: a reduced hash tree: the first list, then one list per level (RFC 4998 PartialHashtree)
Lists = list[list[bytes]]


def reduced_from_path(leaf: bytes, path: Sequence[Sequence[bytes]], *, group: Sequence[bytes] = ()) -> Lists:
    """The RFC 4998 reduced hash tree of ``leaf`` from its vault ``path`` (its tree's
    ``path(index)``; ``[]`` for a one-leaf tree).

    ``group``: the leaf is a data group's hash (``node_hash`` of these values), and the
    group's values become the first list (RFC 4998 4.2 step 3, 4.3 step 2). An empty result
    means the leaf *is* the root: the archive timestamp then carries no reduced hash tree.
    """
    if path:
        first = list(path[0])
        if not 1 <= len(first) <= 2 or first[0] != leaf:
            raise InputError("the path's first list must hold the leaf (and its sibling) first")
        if any(len(level) != 1 for level in path[1:]):
            raise InputError(
                "every later list of a path must hold exactly one value",
                detail="Bouncy Castle 1.72 misreads wider lists (bouncycastle-ers note, limitation 1)",
            )
        siblings = [*first[1:], *(level[0] for level in path[1:])]
    else:
        siblings = []
    width = len(leaf)
    if any(len(s) != width for s in siblings):
        raise InputError("the path's hash values are not all as long as the leaf")
    if group:
        return [list(group), *([s] for s in siblings)]
    if not siblings:
        return []
    return [[leaf, siblings[0]], *([s] for s in siblings[1:])]


def root_of(lists: Sequence[Sequence[bytes]], alg: str) -> bytes:
    """The root a reduced hash tree leads to (RFC 4998 4.3 step 3; see the module's notes)."""
    if not lists or not all(lists):
        raise InputError("a reduced hash tree has an empty list")
    size = digest_size(alg)
    if any(len(h) != size for level in lists for h in level):
        raise InputError(f"a hash value of the reduced hash tree is not {size} bytes ({alg})")
    first = list(lists[0])
    current = first[0] if len(first) == 1 else node_hash(alg, first)
    for level in lists[1:]:
        current = node_hash(alg, [*level, current])
    return current


def covers(lists: Sequence[Sequence[bytes]] | None, imprint: bytes, value: bytes, alg: str) -> str | None:
    """None when ``value`` is in the first list and the tree leads to ``imprint`` (or, with
    no tree, ``value`` is the imprint itself); else why not."""
    if not lists:
        return None if value == imprint else "the timestamp's imprint is not the expected hash (no reduced hash tree)"
    if value not in lists[0]:
        return "the expected hash is not in the first list of the reduced hash tree"
    try:
        root = root_of(lists, alg)
    except InputError as e:
        return str(e)
    return None if root == imprint else "the reduced hash tree does not lead to the timestamp's imprint"
