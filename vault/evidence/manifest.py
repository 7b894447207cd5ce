"""The item manifest (``evidence.json``).

The manifest is what a leaf of the hash tree commits to: SHA-256 of its RFC 8785 canonical
bytes. It names the content by two digests of different families (SHA-256 and SHA3-256, for
algorithm agility), the personal fields only by salted commitments, and the exact object
version that holds the encrypted bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

MANIFEST_TYPE = "vault-evidence/1"


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
) -> dict[str, Any]:
    return {
        "type": MANIFEST_TYPE,
        "id": item_id,
        "tenant": tenant,
        "session": session,
        "kind": kind,
        "purpose": purpose,
        "retention_class": retention_class,
        "received_at": iso(received_at),
        "content": {"size": size, "sha256": sha256, "sha3-256": sha3_256},
        "commitments": commitments,
        "storage": storage.as_json(),
    }


def leaf_of(evidence_bytes: bytes) -> bytes:
    return hashlib.sha256(evidence_bytes).digest()
