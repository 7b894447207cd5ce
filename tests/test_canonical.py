"""The JCS fast path must give exactly the bytes of the reference rfc8785 implementation."""

from __future__ import annotations

import random

import pytest
import rfc8785

from vault.evidence.canonical import _simple, canonical

ALPHABET = [
    "a",
    "Z",
    "0",
    " ",
    '"',
    "\\",
    "/",
    "\n",
    "\t",
    "\x00",
    "\x1f",
    "\x7f",
    "é",
    "€",
    "\u2028",
    "\ue000",
    "😀",
    "𝄞",
]


def _string(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 8)))


def _value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randint(0, 7 if depth < 3 else 4)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randint(-(2**53) + 1, 2**53 - 1)
    if kind in (3, 4):
        return _string(rng)
    if kind == 5:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_string(rng): _value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


@pytest.mark.parametrize("seed", range(30))
def test_fast_path_equals_rfc8785(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        v = _value(rng)
        assert canonical(v) == rfc8785.dumps(v), v


def test_exotic_inputs_take_the_reference_path() -> None:
    for v in ({"𝄞": 1, "\ue000": 2}, 1.5, {"k": [0.1]}):
        assert not _simple(v)
        assert canonical(v) == rfc8785.dumps(v)
    with pytest.raises(rfc8785.IntegerDomainError):  # out of the interoperable range: refused
        canonical({"n": 2**60})
    # key order differs between code points and UTF-16 here: the reference path decides
    assert canonical({"\ue000": 1, "😀": 2}) == rfc8785.dumps({"\ue000": 1, "😀": 2})


@pytest.mark.parametrize("seed", range(10))
def test_disclosure_fast_path_equals_rfc8785(seed: int) -> None:
    from vault.privacy.commitments import _triple_json

    rng = random.Random(seed)
    for _ in range(300):
        name, value = _string(rng) or "f", _value(rng)
        try:
            expected = rfc8785.dumps(["c2FsdHNhbHRzYWx0c2FsdA", name, value])
        except rfc8785.CanonicalizationError:
            continue
        assert _triple_json("c2FsdHNhbHRzYWx0c2FsdA", name, value) == expected, (name, value)
