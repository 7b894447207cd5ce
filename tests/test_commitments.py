"""Salted field commitments (SD-JWT style disclosures, RFC 9901)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import pytest

from vault.errors import InputError
from vault.privacy.commitments import (
    SALT_BYTES,
    Disclosure,
    check_disclosure,
    commit_fields,
    digest_of,
    disclose,
    parse_disclosure,
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode(encoded: str) -> list[Any]:
    value = json.loads(unb64url(encoded))
    assert isinstance(value, list)
    return value


def make(items: object) -> str:
    """A hand-built disclosure string around arbitrary JSON."""
    return b64url(json.dumps(items, separators=(",", ":")).encode())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ip", "203.0.113.7"),
        ("email", "élodie@example.fr"),
        ("port", 3389),
        ("flags", [True, False, None]),
        ("geo", {"lon": 2.35, "lat": 48.85, "city": "Paris"}),
        ("empty", ""),
    ],
)
def test_disclosure_decodes_to_salt_name_value(name: str, value: Any) -> None:
    d = disclose(name, value)
    assert isinstance(d, Disclosure)
    assert (d.name, d.value) == (name, value)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", d.encoded)  # base64url, no padding
    salt, got_name, got_value = decode(d.encoded)
    assert len(unb64url(salt)) >= 16
    assert got_name == name
    assert got_value == value
    # JCS: compact, keys sorted, UTF-8 (not \u escapes)
    assert unb64url(d.encoded).decode() == json.dumps(
        [salt, name, value], separators=(",", ":"), sort_keys=True, ensure_ascii=False
    )
    parsed = parse_disclosure(d.encoded)
    assert (parsed.name, parsed.value, parsed.encoded) == (name, value, d.encoded)


def test_digest_is_sha256_of_the_ascii_disclosure() -> None:
    d = disclose("ip", "198.51.100.1")
    expected = hashlib.sha256(d.encoded.encode("ascii")).hexdigest()
    assert d.digest == expected
    assert digest_of(d.encoded) == expected
    assert re.fullmatch(r"[0-9a-f]{64}", d.digest)
    # the digest is over the encoded string, not over the decoded JSON or the bare value
    assert d.digest != hashlib.sha256(unb64url(d.encoded)).hexdigest()
    assert d.digest != hashlib.sha256(b"198.51.100.1").hexdigest()


def test_known_vector_with_fixed_salt() -> None:
    salt = bytes(range(16))
    d = disclose("ip", "192.0.2.1", salt=salt)
    text = '["' + b64url(salt) + '","ip","192.0.2.1"]'
    assert d.encoded == b64url(text.encode())
    assert d.digest == hashlib.sha256(b64url(text.encode()).encode()).hexdigest()
    assert disclose("ip", "192.0.2.1", salt=salt) == d  # deterministic given the salt


def test_salt_is_fresh_and_at_least_128_bits() -> None:
    a = disclose("ip", "10.0.0.1")
    b = disclose("ip", "10.0.0.1")
    assert a.encoded != b.encoded
    assert a.digest != b.digest
    sa, sb = decode(a.encoded)[0], decode(b.encoded)[0]
    assert sa != sb
    assert len(unb64url(sa)) >= SALT_BYTES >= 16


@pytest.mark.parametrize("n", [0, 1, 15])
def test_short_salt_refused(n: int) -> None:
    with pytest.raises(InputError):
        disclose("ip", "10.0.0.1", salt=bytes(n))


def test_longer_salt_accepted() -> None:
    d = disclose("ip", "10.0.0.1", salt=bytes(32))
    assert unb64url(decode(d.encoded)[0]) == bytes(32)


@pytest.mark.parametrize("value", [object(), b"bytes", float("nan"), float("inf"), {1: "int key"}, 2**60, {1, 2}])
def test_non_json_value_refused(value: object) -> None:
    with pytest.raises(InputError):
        disclose("field", value)


def test_commit_fields_and_check_each_disclosure() -> None:
    fields = {"ip": "203.0.113.9", "user": "alice", "port": 22}
    commitments, disclosures = commit_fields(fields)
    assert set(commitments) == set(fields)
    assert [d.name for d in disclosures] == sorted(fields)
    for d in disclosures:
        assert commitments[d.name] == d.digest
        assert fields[d.name] not in commitments.values()
        ok = check_disclosure(d.encoded, commitments)
        assert (ok.name, ok.value) == (d.name, fields[d.name])
    assert len(set(commitments.values())) == 3


def test_check_rejects_tampered_value() -> None:
    salt = bytes(range(16, 32))
    d = disclose("ip", "203.0.113.9", salt=salt)
    commitments = {"ip": d.digest}
    forged = disclose("ip", "203.0.113.10", salt=salt)  # same salt and name, other value
    with pytest.raises(InputError):
        check_disclosure(forged.encoded, commitments)
    # same JSON re-encoded differently (whitespace) is a different disclosure
    respaced = b64url(json.dumps(decode(d.encoded)).encode())
    assert respaced != d.encoded
    with pytest.raises(InputError):
        check_disclosure(respaced, commitments)
    assert check_disclosure(d.encoded, commitments).value == "203.0.113.9"


def test_check_rejects_disclosure_for_another_field() -> None:
    ip = disclose("ip", "203.0.113.9")
    email = disclose("email", "a@example.org")
    with pytest.raises(InputError):
        check_disclosure(ip.encoded, {"email": email.digest})
    # even when the ip disclosure's digest is filed under the other name
    with pytest.raises(InputError):
        check_disclosure(ip.encoded, {"email": ip.digest})
    with pytest.raises(InputError):
        check_disclosure(ip.encoded, {})
    assert check_disclosure(ip.encoded, {"email": email.digest, "ip": ip.digest}).name == "ip"


GOOD_SALT = b64url(bytes(16))


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "!!!!",
        "é",
        b64url(b"not json"),
        b64url(b"\xff\xfe"),
        make("a string"),
        make(42),
        make([GOOD_SALT, "ip"]),
        make([GOOD_SALT, "ip", "v", "extra"]),
        make([GOOD_SALT, 5, "v"]),
        make([GOOD_SALT, None, "v"]),
        make([b64url(bytes(15)), "ip", "v"]),
        make([7, "ip", "v"]),
        make([["x"], "ip", "v"]),
        make(["@@@@", "ip", "v"]),
    ],
)
def test_malformed_disclosures_refused(encoded: str) -> None:
    with pytest.raises(InputError):
        parse_disclosure(encoded)
    with pytest.raises(InputError):
        check_disclosure(encoded, {"ip": digest_of(encoded) if encoded.isascii() else "0" * 64})


def test_json_object_with_three_keys_is_not_a_disclosure() -> None:
    # parse_disclosure promises InputError when the payload is not [salt, name, value];
    # a three-key object unpacks into its keys if the shape is not checked
    encoded = make({GOOD_SALT: 1, "ip": 2, "v": 3})
    with pytest.raises(InputError):
        parse_disclosure(encoded)


def test_parse_accepts_hand_built_disclosure() -> None:
    encoded = make([GOOD_SALT, "ip", {"v": 4}])
    d = parse_disclosure(encoded)
    assert (d.name, d.value, d.encoded) == ("ip", {"v": 4}, encoded)
    assert check_disclosure(encoded, {"ip": hashlib.sha256(encoded.encode()).hexdigest()}) == d
