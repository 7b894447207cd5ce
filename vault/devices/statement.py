"""The client statement (``vault-client-statement/1``): what a technician's device signs per
deposit, how it travels, and its checks. Pure: bytes, dicts and dates in, a verdict out.

Statement = RFC 8785 canonical JSON of ``{type, tenant, session, kind, sha256, size, created,
idempotency_key, device}``; signature over those bytes, Ed25519 (64 raw bytes) or ECDSA P-256
with SHA-256 (DER). Wire value: ``base64url(statement).base64url(signature)``, no padding.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from vault.errors import InputError, SignatureInvalid
from vault.evidence import base64url
from vault.evidence.base64url import encode as b64url
from vault.evidence.canonical import canonical
from vault.evidence.manifest import parse_iso

STATEMENT_TYPE = "vault-client-statement/1"
FIELDS = frozenset({"type", "tenant", "session", "kind", "sha256", "size", "created", "idempotency_key", "device"})
#: how far ``created`` may be from the vault's receipt of the deposit, either way
CREATED_WINDOW = dt.timedelta(hours=24)
#: a wire value longer than this is refused before decoding
MAX_WIRE = 4096
DEVICE_RE = re.compile(r"^dv_[0-9a-hjkmnp-tv-z]{26}$")
CREATED_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
ED25519 = "ed25519"
P256 = "ecdsa-p256"


def unb64url(text: str, what: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise SignatureInvalid(f"malformed signature: {what} is not base64url without padding")
    try:
        return base64url.decode(text)
    except (binascii.Error, ValueError) as e:
        raise SignatureInvalid(f"malformed signature: {what} is not base64url", detail=str(e)) from None


@dataclass(frozen=True)
class SignedStatement:
    """A statement as received: its exact bytes, parsed fields and signature."""

    statement: bytes
    signature: bytes
    fields: dict[str, Any]

    @property
    def device(self) -> str:
        return str(self.fields["device"])

    @property
    def sha256(self) -> str:
        return str(self.fields["sha256"])

    @property
    def size(self) -> int:
        return int(self.fields["size"])

    def wire(self) -> str:
        return f"{b64url(self.statement)}.{b64url(self.signature)}"


def parse_wire(value: str) -> SignedStatement:
    """A ``Vault-Signature`` value, well-formed (not yet checked against anything)."""
    if not isinstance(value, str) or len(value) > MAX_WIRE:
        raise SignatureInvalid(f"malformed signature: not text of at most {MAX_WIRE} characters")
    parts = value.strip().split(".")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise SignatureInvalid("malformed signature: expected base64url(statement).base64url(signature)")
    statement, signature = unb64url(parts[0], "the statement"), unb64url(parts[1], "the signature")
    fields = parse_statement(statement)
    return SignedStatement(statement, signature, fields)


def parse_statement(statement: bytes) -> dict[str, Any]:
    """The statement's fields, if it is a canonical ``vault-client-statement/1`` document."""
    try:
        fields = json.loads(statement.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise SignatureInvalid("malformed statement: not JSON", detail=str(e)[:100]) from None
    if not isinstance(fields, dict):
        raise SignatureInvalid("malformed statement: not a JSON object")
    if set(fields) != FIELDS:
        raise SignatureInvalid(
            "malformed statement: wrong fields",
            detail=f"missing {sorted(FIELDS - set(fields))}, unknown {sorted(set(fields) - FIELDS)}"[:200],
        )
    if fields["type"] != STATEMENT_TYPE:
        raise SignatureInvalid(f"malformed statement: type is not {STATEMENT_TYPE}", detail=repr(fields["type"])[:80])
    for name in ("tenant", "session", "kind", "sha256", "created", "device"):
        if not isinstance(fields[name], str):
            raise SignatureInvalid(f"malformed statement: {name} is not a string")
    if not SHA256_RE.match(fields["sha256"]):
        raise SignatureInvalid("malformed statement: sha256 is not 64 lower-case hexadecimal characters")
    if not isinstance(fields["size"], int) or isinstance(fields["size"], bool) or fields["size"] < 0:
        raise SignatureInvalid("malformed statement: size is not a non-negative integer")
    if not CREATED_RE.match(fields["created"]):
        raise SignatureInvalid("malformed statement: created is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    if fields["idempotency_key"] is not None and not isinstance(fields["idempotency_key"], str):
        raise SignatureInvalid("malformed statement: idempotency_key is not a string or null")
    if not DEVICE_RE.match(fields["device"]):
        raise SignatureInvalid("malformed statement: device is not a device id (dv_…)")
    if canonical(fields) != statement:
        raise SignatureInvalid("malformed statement: not RFC 8785 canonical JSON")
    return fields


def check_fields(
    signed: SignedStatement,
    *,
    tenant: str,
    session: str,
    kind: str,
    idempotency_key: str | None,
    received_at: dt.datetime,
) -> None:
    """What the statement says, against the deposit as received (its digest and size are
    checked once every byte is in: :func:`check_content`)."""
    f = signed.fields
    for name, expected in (("tenant", tenant), ("session", session), ("kind", kind)):
        if f[name] != expected:
            raise SignatureInvalid(
                f"the signed statement is for another {name}", detail=f"signed {f[name]!r}, deposit {expected!r}"
            )
    if f["idempotency_key"] != idempotency_key:
        raise SignatureInvalid(
            "the signed statement names another idempotency key",
            detail=f"signed {f['idempotency_key']!r}, deposit {idempotency_key!r}",
        )
    created = parse_iso(f["created"])
    if created < received_at - CREATED_WINDOW:
        raise SignatureInvalid("the signed statement has expired", detail=f"created {f['created']}, over 24 h ago")
    if created > received_at + CREATED_WINDOW:
        raise SignatureInvalid("the signed statement is from the future", detail=f"created {f['created']}")


def check_content(signed: SignedStatement, sha256: str, size: int) -> None:
    if signed.sha256 != sha256 or signed.size != size:
        raise SignatureInvalid(
            "the signed statement is of another file",
            detail=f"signed sha256 {signed.sha256} ({signed.size} bytes), received {size} bytes that hash otherwise",
        )


def load_public_key(data: bytes) -> tuple[str, bytes]:
    """(algorithm, SubjectPublicKeyInfo DER) of a PEM or DER public key: Ed25519 or P-256 only."""
    try:
        key = (
            serialization.load_pem_public_key(data)
            if data.lstrip().startswith(b"-----")
            else serialization.load_der_public_key(data)
        )
    except (ValueError, TypeError) as e:
        raise InputError("the public key is not a PEM or DER SubjectPublicKeyInfo", detail=str(e)[:100]) from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        algorithm = ED25519
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        algorithm = P256
    else:
        raise InputError("a device key is Ed25519 or ECDSA P-256", detail=type(key).__name__)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return algorithm, der


def fingerprint(spki_der: bytes) -> str:
    return hashlib.sha256(spki_der).hexdigest()


def pem(spki_der: bytes) -> bytes:
    key = serialization.load_der_public_key(spki_der)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def signature_ok(algorithm: str, spki_der: bytes, statement: bytes, signature: bytes) -> bool:
    """Does ``signature`` over ``statement`` verify with the device key?"""
    try:
        key = serialization.load_der_public_key(spki_der)
        if algorithm == ED25519 and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, statement)
            return True
        if algorithm == P256 and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, statement, ec.ECDSA(hashes.SHA256()))
            return True
    except (InvalidSignature, ValueError, TypeError):
        return False
    return False


def check_signature(algorithm: str, spki_der: bytes, signed: SignedStatement) -> None:
    if not signature_ok(algorithm, spki_der, signed.statement, signed.signature):
        raise SignatureInvalid(
            "the device signature does not verify (forged, or by another key)", detail=f"device {signed.device}"
        )
