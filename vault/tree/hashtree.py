"""Hash trees built the RFC 4998 way (Evidence Record Syntax, section 4.2).

A parent is the hash of the *binary-sorted* concatenation of its children, so a proof does
not need left/right markers: a reduced hash tree (RFC 4998 section 4.3) is a list of lists
of hash values. The first list holds the item's own hash and its sibling; each later list
holds the sibling(s) at the next level up, and the hash computed so far joins it. The tree
is binary; an odd node at the end of a level is promoted unchanged, so a level may add no
list to a proof.

Verification follows RFC 4998 section 5.3: h must be in the first list; hash the sorted
concatenation of the list; carry the result into the next list; the last result is the root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vault.errors import InputError

#: a reduced hash tree: one list of hash values per level (RFC 4998 PartialHashtree)
ReducedHashTree = list[list[bytes]]

HashFn = Callable[[bytes], bytes]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_node(children: Sequence[bytes], h: HashFn = sha256) -> bytes:
    """Hash of the binary ascending concatenation of the children (RFC 4998 4.2, step 4)."""
    return h(b"".join(sorted(children)))


@dataclass(frozen=True)
class HashTree:
    """All levels of a tree; ``levels[0]`` are the leaves, ``levels[-1] == [root]``."""

    levels: tuple[tuple[bytes, ...], ...]

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def path(self, index: int) -> ReducedHashTree:
        """The reduced hash tree of leaf ``index``."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} out of range 0..{self.size - 1}")
        reduced: ReducedHashTree = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                if not reduced:
                    reduced.append([level[index], level[sibling]])
                else:
                    reduced.append([level[sibling]])
            elif not reduced:
                # promoted alone: the first list still names the item itself
                reduced.append([level[index]])
            index //= 2
        return reduced


def build_tree(leaves: Sequence[bytes], h: HashFn = sha256) -> HashTree:
    """Build the tree over ``leaves`` (hash values, in the order the caller chose)."""
    if not leaves:
        raise InputError("a hash tree needs at least one leaf")
    width = len(leaves[0])
    if any(len(leaf) != width for leaf in leaves):
        raise InputError("all leaves of a hash tree must have the same length")
    levels = [tuple(leaves)]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = [hash_node(cur[i : i + 2], h) if i + 1 < len(cur) else cur[i] for i in range(0, len(cur), 2)]
        levels.append(tuple(nxt))
    return HashTree(tuple(levels))


def root_from_path(leaf: bytes, path: ReducedHashTree, h: HashFn = sha256) -> bytes:
    """Recompute the root from a leaf and its reduced hash tree (RFC 4998 5.3, steps 1-3).

    Raises :class:`InputError` when the leaf is not in the first list.
    """
    if not path:
        return leaf
    if leaf not in path[0]:
        raise InputError("the item's hash is not in the first list of its reduced hash tree")
    current = leaf if len(path[0]) == 1 else hash_node(path[0], h)
    for siblings in path[1:]:
        current = hash_node([*siblings, current], h)
    return current


def verify_path(leaf: bytes, path: ReducedHashTree, root: bytes, h: HashFn = sha256) -> bool:
    """True when ``leaf`` and ``path`` lead to ``root``."""
    try:
        return root_from_path(leaf, path, h) == root
    except InputError:
        return False
