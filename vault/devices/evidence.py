"""The client statement sealed with the item (``evidence.json`` field ``client_signature``).

An item kept for proof (retention class ``proof``: transaction proofs, never erased) carries
its statement, signature and device public key in clear. Every other item (erasable) carries
them only encrypted under its data key (EVS1, context ``<item id>/client-statement``), as its
content salt: the statement names the plain SHA-256 of the content, which must not outlive an
erasure. Device id, algorithm and key fingerprint stay in clear in both.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from vault.devices.statement import SignedStatement
from vault.envelope.stream import decrypt_bytes, encrypt_bytes
from vault.errors import InputError
from vault.evidence.canonical import canonical_known

FIELD = "client_signature"


@dataclass(frozen=True)
class Attested:
    """A verified statement, with the device key that signed it (what is sealed)."""

    signed: SignedStatement
    algorithm: str
    public_key: bytes  # SubjectPublicKeyInfo, DER
    fingerprint: str


@dataclass(frozen=True)
class Opened:
    statement: bytes
    signature: bytes
    public_key: bytes
    device: str
    algorithm: str
    fingerprint: str


def context(item_id: str) -> bytes:
    return item_id.encode() + b"/client-statement"


def _parts(a: Attested) -> dict[str, str]:
    return {
        "statement": base64.b64encode(a.signed.statement).decode(),
        "signature": base64.b64encode(a.signed.signature).decode(),
        "public_key": base64.b64encode(a.public_key).decode(),
    }


def evidence_field(a: Attested, *, item_id: str, dek: bytes, sealed: bool) -> dict[str, Any]:
    head = {"device": a.signed.device, "algorithm": a.algorithm, "fingerprint": a.fingerprint}
    if not sealed:
        return {**head, **_parts(a)}
    blob = encrypt_bytes(dek, context(item_id), canonical_known(_parts(a)))
    return {**head, "sealed": base64.b64encode(blob).decode()}


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise InputError(f"client_signature.{what} is missing or not text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError(f"client_signature.{what} is not base64", detail=str(e)) from None


def is_sealed(evidence: dict[str, Any]) -> bool:
    f = evidence.get(FIELD)
    return isinstance(f, dict) and "sealed" in f


def open_field(evidence: dict[str, Any], *, item_id: str, dek: bytes | None) -> Opened:
    """The statement, signature and key of an item's evidence; a sealed one needs ``dek``.
    Raises InputError (malformed) or DecryptionError (tampered, another item's, another key)."""
    import json

    f = evidence.get(FIELD)
    if not isinstance(f, dict):
        raise InputError("the evidence has no client_signature")
    head = {k: f.get(k) for k in ("device", "algorithm", "fingerprint")}
    if not all(isinstance(v, str) for v in head.values()):
        raise InputError("client_signature: device, algorithm or fingerprint missing")
    if "sealed" in f:
        if dek is None:
            raise InputError("the sealed client statement needs the item's data key")
        inner = json.loads(decrypt_bytes(dek, context(item_id), _b64(f["sealed"], "sealed")))
        if not isinstance(inner, dict):
            raise InputError("the sealed client statement is not a JSON object")
    else:
        inner = f
    return Opened(
        statement=_b64(inner.get("statement"), "statement"),
        signature=_b64(inner.get("signature"), "signature"),
        public_key=_b64(inner.get("public_key"), "public_key"),
        device=str(head["device"]),
        algorithm=str(head["algorithm"]),
        fingerprint=str(head["fingerprint"]),
    )
