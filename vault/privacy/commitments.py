"""Salted field commitments, the SD-JWT way (RFC 9901 "Selective Disclosure for JWTs").

Each personal field becomes a *disclosure* ``base64url(JCS([salt, name, value]))`` with a
fresh 128-bit salt, and the sealed evidence keeps only ``sha256(disclosure)`` in hex. A
litigation export can then reveal one field alone (its disclosure), and once a subject's key
is destroyed the digests reveal nothing: without the salt, even a 32-bit IPv4 address
cannot be brute-forced from its digest.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import rfc8785

from vault.errors import InputError
from vault.evidence.base64url import decode as _unb64
from vault.evidence.base64url import encode as _b64
from vault.evidence.canonical import canonical, canonical_known, is_simple

SALT_BYTES = 16


@dataclass(frozen=True)
class Disclosure:
    name: str
    value: Any
    encoded: str

    @property
    def digest(self) -> str:
        return digest_of(self.encoded)


def digest_of(encoded: str) -> str:
    return hashlib.sha256(encoded.encode("ascii")).hexdigest()


def _triple_json(salt: str, name: str, value: Any) -> bytes:
    """JCS of ``[salt, name, value]``; scalars are written directly (this runs once per field
    of every record), anything else through :func:`canonical`."""
    if is_simple(name):
        t = type(value)
        if t is str and is_simple(value):
            return f'["{salt}",{encode_basestring(name)},{encode_basestring(value)}]'.encode()
        if t is int and is_simple(value):
            return f'["{salt}",{encode_basestring(name)},{value}]'.encode()
        if value is None or t is bool:
            return f'["{salt}",{encode_basestring(name)},{json.dumps(value)}]'.encode()
        if is_simple(value):
            return canonical_known([salt, name, value])
    return canonical([salt, name, value])


def disclose(name: str, value: Any, salt: bytes | None = None) -> Disclosure:
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    if len(salt) < SALT_BYTES:
        raise InputError("commitment salts must be at least 128 bits")
    try:
        encoded = _b64(_triple_json(_b64(salt), name, value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as e:
        raise InputError(f"field {name!r} cannot be committed", detail=str(e)) from e
    return Disclosure(name, value, encoded)


def commit_fields(fields: dict[str, Any]) -> tuple[dict[str, str], list[Disclosure]]:
    """Commitments ``{name: digest}`` to put in sealed evidence, and the secret disclosures."""
    disclosures = [disclose(name, value) for name, value in sorted(fields.items())]
    return {d.name: d.digest for d in disclosures}, disclosures


def parse_disclosure(encoded: str) -> Disclosure:
    """Decode a disclosure; raises :class:`InputError` when it is not ``[salt, name, value]``."""
    try:
        decoded = json.loads(_unb64(encoded))
        if not isinstance(decoded, list) or len(decoded) != 3 or not isinstance(decoded[0], str):
            raise ValueError("a disclosure is the JSON array [salt, name, value]")
        salt, name, value = decoded
        if not isinstance(name, str) or len(_unb64(salt)) < SALT_BYTES:
            raise ValueError("bad salt or name")
    except (ValueError, TypeError) as e:
        raise InputError("malformed disclosure", detail=str(e)) from e
    return Disclosure(name, value, encoded)


def check_disclosure(encoded: str, commitments: dict[str, str]) -> Disclosure:
    """The disclosure, if it matches the commitment of its field; else :class:`InputError`."""
    d = parse_disclosure(encoded)
    if commitments.get(d.name) != d.digest:
        raise InputError(f"disclosure of field {d.name!r} does not match its commitment")
    return d
