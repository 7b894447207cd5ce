"""RFC 4998 hash trees: sorted concatenation, promoted odd nodes, reduced hash trees."""

from __future__ import annotations

import hashlib
import random

import pytest

from vault.errors import InputError
from vault.tree.hashtree import build_tree, hash_node, root_from_path, verify_path


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaves(n: int, seed: int = 0) -> list[bytes]:
    rnd = random.Random(seed)
    return [h(rnd.randbytes(16)) for _ in range(n)]


def reference_root(items: list[bytes]) -> bytes:
    """Independent model: pair neighbours, hash the sorted pair, promote an odd last node."""
    level = list(items)
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            if i + 1 < len(level):
                a, b = level[i], level[i + 1]
                nxt.append(hashlib.sha256(min(a, b) + max(a, b)).digest())
            else:
                nxt.append(level[i])
        level = nxt
    return level[0]


@pytest.mark.parametrize("n", range(1, 71))
def test_every_leaf_path_verifies(n: int) -> None:
    items = leaves(n, seed=n)
    tree = build_tree(items)
    assert tree.size == n
    assert tree.root == reference_root(items)
    other_root = h(b"not the root")
    for i, leaf in enumerate(items):
        path = tree.path(i)
        assert leaf in (path[0] if path else [leaf])
        assert root_from_path(leaf, path) == tree.root
        assert verify_path(leaf, path, tree.root)
        assert not verify_path(leaf, path, other_root)


def test_single_leaf_root_is_the_leaf() -> None:
    (leaf,) = leaves(1)
    tree = build_tree([leaf])
    assert tree.root == leaf
    assert tree.path(0) == []
    assert verify_path(leaf, [], leaf)
    assert not verify_path(h(b"other"), [], leaf)


def test_two_leaf_vector() -> None:
    a, b = h(b"a"), h(b"b")
    expected = hashlib.sha256(min(a, b) + max(a, b)).digest()
    assert build_tree([a, b]).root == expected
    assert build_tree([b, a]).root == expected
    # the concrete byte order: "b"'s digest sorts before "a"'s
    assert b < a
    assert expected == hashlib.sha256(b + a).digest()
    assert expected != hashlib.sha256(a + b).digest()


def test_three_leaf_vector_promotes_odd_leaf_unchanged() -> None:
    a, b, c = h(b"a"), h(b"b"), h(b"c")
    ab = hashlib.sha256(min(a, b) + max(a, b)).digest()
    expected = hashlib.sha256(min(ab, c) + max(ab, c)).digest()
    tree = build_tree([a, b, c])
    assert tree.levels[1] == (ab, c)  # c promoted unchanged, not hashed alone
    assert tree.root == expected
    assert tree.path(2) == [[c], [ab]]
    assert tree.path(0) == [[a, b], [c]]
    assert verify_path(c, tree.path(2), expected)


def test_hash_node_is_order_independent() -> None:
    a, b, c = leaves(3)
    assert hash_node([a, b]) == hash_node([b, a])
    assert hash_node([a, b, c]) == hash_node([c, a, b])
    assert hash_node([a, b]) != hash_node([a, c])
    # siblings inside a path list may be given in any order
    tree = build_tree([a, b])
    assert verify_path(a, [[b, a]], tree.root)


def test_random_sizes_match_reference_and_verify() -> None:
    rnd = random.Random(4998)
    for _ in range(25):
        n = rnd.randint(71, 300)
        items = leaves(n, seed=rnd.randint(0, 10**9))
        tree = build_tree(items)
        assert tree.root == reference_root(items)
        for i in rnd.sample(range(n), 5):
            assert verify_path(items[i], tree.path(i), tree.root)


def test_custom_hash_function_is_used() -> None:
    def sha512(data: bytes) -> bytes:
        return hashlib.sha512(data).digest()

    items = [hashlib.sha512(bytes([i])).digest() for i in range(5)]
    tree = build_tree(items, sha512)
    assert len(tree.root) == 64
    for i, leaf in enumerate(items):
        assert verify_path(leaf, tree.path(i), tree.root, sha512)
        assert not verify_path(leaf, tree.path(i), tree.root)  # sha256 does not reach it


def flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 1]) + b[1:]


def test_tampered_leaf_fails() -> None:
    items = leaves(9, seed=9)
    tree = build_tree(items)
    for i, leaf in enumerate(items):
        path = tree.path(i)
        assert not verify_path(flip(leaf), path, tree.root)
        # even when the tampered value is also put into the first list
        forged = [[flip(x) if x == leaf else x for x in path[0]], *path[1:]]
        assert not verify_path(flip(leaf), forged, tree.root)


def test_tampered_sibling_fails() -> None:
    items = leaves(9, seed=9)
    tree = build_tree(items)
    for i, leaf in enumerate(items):
        path = tree.path(i)
        for lvl, siblings in enumerate(path):
            for j, value in enumerate(siblings):
                if lvl == 0 and value == leaf:
                    continue
                bad = [list(x) for x in path]
                bad[lvl][j] = flip(value)
                assert not verify_path(leaf, bad, tree.root), (i, lvl, j)


def test_dropped_level_fails() -> None:
    items = leaves(9, seed=9)
    tree = build_tree(items)
    for i, leaf in enumerate(items):
        path = tree.path(i)
        for lvl in range(len(path)):
            dropped = path[:lvl] + path[lvl + 1 :]
            assert not verify_path(leaf, dropped, tree.root), (i, lvl)


def test_extra_level_fails() -> None:
    items = leaves(9, seed=9)
    tree = build_tree(items)
    extra = h(b"extra")
    for i, leaf in enumerate(items):
        path = tree.path(i)
        assert not verify_path(leaf, [*path, [extra]], tree.root)
        assert not verify_path(leaf, [path[0], [extra], *path[1:]], tree.root)
        assert not verify_path(leaf, [*path, []], tree.root)


def test_leaf_absent_from_first_list() -> None:
    items = leaves(4, seed=4)
    tree = build_tree(items)
    path = tree.path(0)
    # items[2] is not in path[0] == [items[0], items[1]]
    assert items[2] not in path[0]
    assert not verify_path(items[2], path, tree.root)
    with pytest.raises(InputError):
        root_from_path(items[2], path)
    # a leaf that is only in a *later* list does not count either
    assert path[1][0] not in path[0]
    with pytest.raises(InputError):
        root_from_path(path[1][0], path)


def test_path_of_one_leaf_does_not_prove_another() -> None:
    items = leaves(8, seed=8)
    tree = build_tree(items)
    for i in range(8):
        for j in range(8):
            if items[j] in tree.path(i)[0]:
                continue
            assert not verify_path(items[j], tree.path(i), tree.root)


def test_build_tree_rejects_empty_and_mixed_lengths() -> None:
    with pytest.raises(InputError):
        build_tree([])
    with pytest.raises(InputError):
        build_tree([h(b"a"), hashlib.sha1(b"b").digest()])  # noqa: S324
    with pytest.raises(InputError):
        build_tree([h(b"a"), h(b"b"), h(b"c")[:31]])


@pytest.mark.parametrize("n", [1, 2, 7])
def test_path_index_out_of_range(n: int) -> None:
    tree = build_tree(leaves(n))
    tree.path(n - 1)
    with pytest.raises(IndexError):
        tree.path(n)
    with pytest.raises(IndexError):
        tree.path(-1)


def test_refusals_say_why() -> None:
    with pytest.raises(InputError) as caught:
        build_tree([])
    assert caught.value.message == "a hash tree needs at least one leaf"
    with pytest.raises(InputError) as caught:
        build_tree([h(b"a"), h(b"b")[:31]])
    assert caught.value.message == "all leaves of a hash tree must have the same length"
    tree = build_tree(leaves(4, seed=4))
    with pytest.raises(InputError) as caught:
        root_from_path(leaves(4, seed=4)[2], tree.path(0))
    assert caught.value.message == "the item's hash is not in the first list of its reduced hash tree"
    with pytest.raises(IndexError, match=r"^leaf 4 out of range 0\.\.3$"):
        tree.path(4)
