"""Deposit receipts: one seal per storage write, an inclusion path per item.

Signing a CMS receipt for every 1 KiB record would cost more than storing it. Instead each
write (a single payload, or a segment of packed records) gets one signed *receipt body*
naming the root of a hash tree over the items' evidence leaves, and each item's receipt
carries its ``evidence.json``, its leaf and its path to that root: the signed tree head and
inclusion proof of transparency logs. The body checks with ``openssl cms -verify``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from vault.errors import InputError
from vault.evidence.canonical import canonical, canonical_known
from vault.evidence.manifest import iso
from vault.seal.cms import Sealer, verify_detached
from vault.seal.identity import SealTrust
from vault.tree.hashtree import ReducedHashTree, build_tree, root_from_path

RECEIPT_TYPE = "vault-deposit-receipt/1"


@dataclass(frozen=True)
class Receipt:
    """What the depositor gets back once an item is durable."""

    item_id: str
    evidence: bytes
    leaf: bytes
    path: ReducedHashTree
    body: bytes
    seal: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "type": RECEIPT_TYPE,
            "item": self.item_id,
            "evidence": base64.b64encode(self.evidence).decode(),
            "leaf": self.leaf.hex(),
            "path": [[h.hex() for h in level] for level in self.path],
            "body": base64.b64encode(self.body).decode(),
            "seal": base64.b64encode(self.seal).decode(),
        }

    def encoded(self) -> bytes:
        return canonical_known(self.as_json())

    def path_json(self) -> bytes:
        """The per-item part alone (what a packed record's index row keeps)."""
        return canonical_known([[h.hex() for h in level] for level in self.path])

    def signed_json(self) -> bytes:
        """The shared part: the body and its seal (kept once per segment)."""
        return canonical_known(
            {"body": base64.b64encode(self.body).decode(), "seal": base64.b64encode(self.seal).decode()}
        )

    @classmethod
    def from_parts(cls, item_id: str, evidence: bytes, path_json: bytes, signed_json: bytes) -> Receipt:
        signed = json.loads(signed_json)
        return cls(
            item_id=item_id,
            evidence=evidence,
            leaf=hashlib.sha256(evidence).digest(),
            path=[[bytes.fromhex(h) for h in level] for level in json.loads(path_json)],
            body=base64.b64decode(signed["body"]),
            seal=base64.b64decode(signed["seal"]),
        )


def sign_receipts(
    sealer: Sealer,
    *,
    tenant: str,
    received_at: dt.datetime,
    storage: dict[str, str],
    items: list[tuple[str, bytes, bytes]],
) -> list[Receipt]:
    """One seal over the tree of ``items`` = [(item id, evidence.json, leaf)]."""
    tree = build_tree([leaf for _id, _ev, leaf in items])
    body = canonical(
        {
            "type": RECEIPT_TYPE,
            "tenant": tenant,
            "received_at": iso(received_at),
            "count": len(items),
            "items_root": tree.root.hex(),
            "storage": storage,
        }
    )
    seal = sealer.seal(body)
    return [Receipt(i, ev, leaf, tree.path(n), body, seal) for n, (i, ev, leaf) in enumerate(items)]


def verify_receipt(receipt: dict[str, Any], seal_roots: SealTrust | Sequence[x509.Certificate]) -> dict[str, Any]:
    """Check a receipt: seal over the body, evidence → leaf → path → signed root.

    ``seal_roots`` is the vault's :class:`SealTrust`: the receipt's seal must be by one of the
    vault's pinned sealing certificates, like a batch seal (ADR 0009), valid at the receipt's
    signing time.

    Returns the item's evidence manifest; raises InputError or SealError.
    """
    try:
        body = base64.b64decode(receipt["body"], validate=True)
        seal = base64.b64decode(receipt["seal"], validate=True)
        evidence = base64.b64decode(receipt["evidence"], validate=True)
        path = [[bytes.fromhex(h) for h in level] for level in receipt["path"]]
    except (KeyError, TypeError, ValueError) as e:
        raise InputError("malformed receipt", detail=str(e)) from e
    verify_detached(seal, body, seal_roots)
    signed = json.loads(body)
    leaf = hashlib.sha256(evidence).digest()
    if root_from_path(leaf, path).hex() != signed.get("items_root"):
        raise InputError("the receipt's evidence is not covered by its signed body")
    manifest: dict[str, Any] = json.loads(evidence)
    if manifest.get("id") != receipt.get("item"):
        raise InputError("the receipt names another item than its evidence")
    return manifest
