"""The item manifest (``evidence.json``).

The manifest is what a leaf of the hash tree commits to: SHA-256 of its RFC 8785 canonical
bytes. It names the content by two digests of different families (SHA-256 and SHA3-256, for
algorithm agility), the personal fields only by salted commitments, and the exact object
version that holds the encrypted bytes.

Two versions (docs/decisions/0010-salted-content-digests.md):

- ``vault-evidence/1``: ``content`` = ``{size, sha256, sha3-256}``, digests of the plaintext.
  Transaction proofs (never erased, matched against the other party's document) and records
  (whose plaintext is already salted disclosures) are still written so.
- ``vault-evidence/2``: ``content`` = ``{size, salted_sha256, salted_sha3-256, salt_sealed}``,
  digests of ``salt || plaintext`` with a fresh 128-bit salt per item, the salt kept only
  encrypted under the item's data key (EVS1, context ``<item id>/salt``). Every erasable file
  item: once its key is destroyed, nobody can confirm a guess of its content.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

MANIFEST_TYPE = "vault-evidence/1"  # plain content digests
SALTED_MANIFEST_TYPE = "vault-evidence/2"  # salted content digests, the salt sealed under the data key
MANIFEST_TYPES = frozenset({MANIFEST_TYPE, SALTED_MANIFEST_TYPE})
#: bytes of a content salt (128 bits, as the field commitments' salts)
SALT_LEN = 16


def iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class StoragePin:
    bucket: str
    key: str
    version_id: str
    offset: int
    length: int
    ciphertext_sha256: str
    encryption: str
    lock_mode: str
    retain_until: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "offset": self.offset,
            "length": self.length,
            "ciphertext_sha256": self.ciphertext_sha256,
            "encryption": self.encryption,
            "lock": {"mode": self.lock_mode, "retain_until": iso(self.retain_until)},
        }


def item_manifest(
    *,
    item_id: str,
    tenant: str,
    session: str,
    kind: str,
    purpose: str,
    retention_class: str,
    received_at: dt.datetime,
    size: int,
    sha256: str,
    sha3_256: str,
    commitments: dict[str, str],
    storage: StoragePin,
    salt_sealed: bytes | None = None,
    derived: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest; with ``salt_sealed``, a ``vault-evidence/2`` one whose ``sha256`` and
    ``sha3_256`` are the *salted* digests (of salt || content). ``derived`` (a record's fields the
    vault added, and from what: vault/ingest/connection.py) is written only when given; so are
    ``extra`` top-level fields (``idempotency_key``, ``client_signature``: docs/decisions/0013)."""
    content: dict[str, Any] = (
        {"size": size, "sha256": sha256, "sha3-256": sha3_256}
        if salt_sealed is None
        else {
            "size": size,
            "salted_sha256": sha256,
            "salted_sha3-256": sha3_256,
            "salt_sealed": base64.b64encode(salt_sealed).decode(),
        }
    )
    return {
        "type": MANIFEST_TYPE if salt_sealed is None else SALTED_MANIFEST_TYPE,
        "id": item_id,
        "tenant": tenant,
        "session": session,
        "kind": kind,
        "purpose": purpose,
        "retention_class": retention_class,
        "received_at": iso(received_at),
        "content": content,
        "commitments": commitments,
        "storage": storage.as_json(),
        **({"derived": derived} if derived else {}),
        **(extra or {}),
    }


def leaf_of(evidence_bytes: bytes) -> bytes:
    return hashlib.sha256(evidence_bytes).digest()


def is_salted(evidence: dict[str, Any]) -> bool:
    """Is this (parsed) manifest a ``vault-evidence/2`` one, with salted content digests?"""
    return evidence.get("type") == SALTED_MANIFEST_TYPE


def salted_digests(salt: bytes) -> tuple[Any, Any]:
    """SHA-256 and SHA3-256 objects already fed the salt: feed them the content next."""
    return hashlib.sha256(salt), hashlib.sha3_256(salt)
