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


# -- boundaries: the fast path must never print what the reference refuses ----------------------


@pytest.mark.parametrize("n", [2**53 - 1, -(2**53) + 1, 2**53 - 2, 0, -1, 1])
def test_largest_safe_integers_are_printed(n: int) -> None:
    assert _simple(n)
    assert canonical(n) == str(n).encode() == rfc8785.dumps(n)
    assert canonical({"n": n}) == b'{"n":' + str(n).encode() + b"}"
    assert canonical([n]) == rfc8785.dumps([n])


@pytest.mark.parametrize("n", [2**53, -(2**53), 2**53 + 1, -(2**53) - 1, 2**64])
def test_integers_beyond_2_53_are_refused(n: int) -> None:
    assert not _simple(n)
    assert not _simple({"n": n})
    assert not _simple([1, n])
    for value in (n, {"n": n}, [n], {"a": [{"b": n}]}):
        with pytest.raises(rfc8785.IntegerDomainError):
            canonical(value)


def test_floats_take_the_reference_path() -> None:
    cases = {1.0: b"1", 0.5: b"0.5", -0.0: b"0", 1e21: b"1e+21", 1e-7: b"1e-7", 2.0**53: b"9007199254740992"}
    for value, expected in cases.items():
        assert not _simple(value)
        assert canonical(value) == expected
    with pytest.raises(rfc8785.FloatDomainError):
        canonical(float("nan"))


def test_keys_are_ordered_by_utf16_code_units() -> None:
    # U+1F600 is D83D DE00 in UTF-16, before U+E000; by code point it would come after
    obj = {"\ue000": 1, "😀": 2, "a": 3, "é": 4}
    assert canonical(obj) == '{"a":3,"é":4,"😀":2,"\ue000":1}'.encode()
    assert not _simple(obj)
    below = {"b": 1, "a": 2, "é": 3, "€": 4}
    assert _simple(below)
    assert canonical(below) == '{"a":2,"b":1,"é":3,"€":4}'.encode()


def test_strings_fast_path_and_surrogates() -> None:
    assert _simple("ascii") and _simple("é€😀")
    assert canonical("é\n\u2028") == '"é\\n\u2028"'.encode()
    assert not _simple("\ud800")  # a lone surrogate is not UTF-8: the reference path refuses it
    assert not _simple("a\udfff")
    assert not _simple({"k": "\ud800"})
    assert not _simple(["\udc00"])
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical("\ud800")


def test_shapes_outside_json_take_the_reference_path() -> None:
    assert _simple(None) and _simple(True) and _simple(False) and _simple([]) and _simple({}) and _simple(())
    assert canonical((1, "a")) == b'[1,"a"]'
    assert not _simple({1: "x"})  # non-string keys
    assert not _simple({"\ud800": 1})
    assert not _simple({"k": 1.5})
    assert not _simple([1, 1.5])
    assert not _simple(b"bytes")
    assert not _simple({"k": object()})


def test_canonical_known_skips_the_check_and_is_documented_as_such() -> None:
    from vault.evidence.canonical import canonical_known, is_simple

    obj = {"b": [1, "x", None, True], "a": {"c": "é"}}
    assert canonical_known(obj) == canonical(obj) == b'{"a":{"c":"\xc3\xa9"},"b":[1,"x",null,true]}'
    assert is_simple(obj)
    assert not is_simple(2**53)
