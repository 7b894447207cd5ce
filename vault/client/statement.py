"""The signed statement a device makes about each file it deposits (the contract of issue 9).

Statement = RFC 8785 canonical JSON of::

    {"type": "vault-client-statement/1", "tenant": T, "session": S, "kind": K,
     "sha256": "<hex of the plaintext>", "size": <bytes>, "created": "YYYY-MM-DDTHH:MM:SS.ffffffZ",
     "idempotency_key": <str or null>, "device": "dv_…"}

signed with the device's Ed25519 key (64 raw bytes). Wire value (header ``Vault-Signature``,
or tus metadata ``signature``): ``<base64url(statement)>.<base64url(signature)>``, no padding.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from vault.evidence.base64url import decode as unb64url
from vault.evidence.base64url import encode as b64url
from vault.evidence.canonical import canonical

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

STATEMENT_TYPE = "vault-client-statement/1"


def utc_stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def statement(
    *,
    tenant: str,
    session: str,
    kind: str,
    sha256: str,
    size: int,
    created: dt.datetime,
    idempotency_key: str | None,
    device: str,
) -> dict[str, Any]:
    return {
        "type": STATEMENT_TYPE,
        "tenant": tenant,
        "session": session,
        "kind": kind,
        "sha256": sha256,
        "size": size,
        "created": utc_stamp(created),
        "idempotency_key": idempotency_key,
        "device": device,
    }


def sign(doc: dict[str, Any], key: Ed25519PrivateKey) -> str:
    """The wire value of ``doc`` signed by ``key``."""
    body = canonical(doc)
    return f"{b64url(body)}.{b64url(key.sign(body))}"


def parse(wire: str) -> tuple[bytes, bytes]:
    """(statement bytes, signature) of a wire value."""
    body, _, sig = wire.partition(".")
    return unb64url(body), unb64url(sig)


def generate_device_key() -> tuple[bytes, bytes]:
    """A new Ed25519 device key: (private PKCS#8 PEM, public SPKI PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def load_device_key(pem: bytes) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the device key is not an Ed25519 key")
    return key


def fingerprint(public_pem: bytes) -> str:
    """SHA-256 hex of the SPKI DER, as the vault names a device key."""
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = serialization.load_pem_public_key(public_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()
