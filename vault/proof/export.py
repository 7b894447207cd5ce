"""``vault proof ID --out DIR``: a self-contained proof folder an auditor checks offline.

The folder is written under a temporary name and renamed at the end, so an interrupted
export never leaves a half-written folder that looks complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from vault.context import VaultContext
from vault.devices.evidence import FIELD as CLIENT_FIELD
from vault.devices.evidence import Opened
from vault.devices.evidence import is_sealed as is_sealed_statement
from vault.devices.evidence import open_field as open_statement
from vault.devices.statement import pem
from vault.envelope.stream import decrypt_bytes
from vault.errors import Conflict, InputError, NotFound
from vault.ers.item import ERS_FILE, item_record
from vault.evidence.receipt import Receipt
from vault.index.models import Item, Segment
from vault.proof.folder import atomic_folder
from vault.proof.payload import PayloadRead, content_salt
from vault.proof.verify_md import verify_md
from vault.seal.identity import fingerprint
from vault.verify.declared import TRUST_FILE, declaration
from vault.verify.online import load_item


def signer_cert_pem(seal: bytes) -> bytes:
    signed = cms.ContentInfo.load(seal)["content"]
    for c in signed["certificates"] or []:
        if c.name == "certificate":
            return x509.load_der_x509_certificate(c.chosen.dump()).public_bytes(Encoding.PEM)
    raise NotFound("the seal carries no certificate")


def split_pem(bundle: str) -> list[str]:
    end = "-----END CERTIFICATE-----"
    return [part.strip() + "\n" + end + "\n" for part in bundle.split(end) if part.strip()]


def full_receipt(ctx: VaultContext, item: Item) -> bytes:
    """The item's receipt; a packed record's is rebuilt from its path and its segment's seal."""
    assert item.receipt is not None and item.evidence is not None
    if item.segment_id is None:
        return item.receipt
    with ctx.sessions() as s:
        segment = s.get(Segment, item.segment_id)
    if segment is None or segment.receipt is None:
        raise NotFound("the record's segment receipt is missing", detail=str(item.segment_id))
    return Receipt.from_parts(item.id, item.evidence, item.receipt, segment.receipt).encoded()


def _client_statement(ctx: VaultContext, item: Item, evidence: dict[str, Any], tmp: Path) -> Opened | None:
    """``client-statement.json``, ``client-statement.sig`` and ``device.pem`` of a signed item
    (a sealed statement is opened with the item's data key and disclosed, as its salt is)."""
    if CLIENT_FIELD not in evidence:
        return None
    dek = ctx.data_keys.by_id(item.subject_key_id)[1] if is_sealed_statement(evidence) else None
    opened = open_statement(evidence, item_id=item.id, dek=dek)
    (tmp / "client-statement.json").write_bytes(opened.statement)
    (tmp / "client-statement.sig").write_bytes(opened.signature)
    (tmp / "device.pem").write_bytes(pem(opened.public_key))
    return opened


def _tsa_anchors(ctx: VaultContext, batch_chain: list[str]) -> bytes:
    """The batch token's CA(s), then those of the TSAs that renewed it (ADR 0015): what
    ``certs/tsa-ca.pem`` must hold for the token and evidence-record.ers to verify."""
    from sqlalchemy import select

    from vault.index.models import ArchiveStamp

    with ctx.sessions() as s:
        chains = [split_pem(c)[1:] for c in sorted(set(s.scalars(select(ArchiveStamp.tsa_chain))))]
    seen: list[str] = []
    for cert in [*batch_chain[1:], *(p for c in chains for p in c)]:
        if cert not in seen:
            seen.append(cert)
    return "".join(seen).encode()


def export_proof(ctx: VaultContext, item_id: str, out: Path) -> Path:
    item, batch = load_item(ctx, item_id)
    if item.evidence is None or item.state in ("writing", "orphaned"):
        raise InputError(f"item {item_id} is {item.state}: not evidence")
    if batch is None or item.path is None:
        raise Conflict(
            f"item {item_id} is not sealed yet",
            detail="its batch is sealed within seconds; or seal now (`vault seal`, POST /v1/seal)",
        )
    with atomic_folder(out) as tmp:
        reader = PayloadRead(ctx, item)
        with open(tmp / "payload", "wb") as f:
            for chunk in reader.plaintext():
                f.write(chunk)
        (tmp / "evidence.json").write_bytes(item.evidence)
        salt = content_salt(ctx, item)
        if salt is not None:  # vault-evidence/2: disclosed so that anyone can check the salted digests
            (tmp / "content-salt.hex").write_text(salt.hex() + "\n")
        (tmp / "batch.json").write_bytes(batch.manifest)
        (tmp / "path.json").write_text(json.dumps(json.loads(item.path), indent=2) + "\n")
        (tmp / "seal.p7s").write_bytes(batch.seal)
        (tmp / "timestamp.tsr").write_bytes(batch.tsr)
        (tmp / ERS_FILE).write_bytes(item_record(ctx, item, batch))
        if item.receipt:
            (tmp / "receipt.json").write_bytes(full_receipt(ctx, item))
        if item.meta_sealed:
            _row, dek = ctx.data_keys.by_id(item.subject_key_id)
            if dek is not None:
                disclosures = json.loads(decrypt_bytes(dek, item.id.encode() + b"/meta", item.meta_sealed))
                (tmp / "disclosures.json").write_text(json.dumps(disclosures, indent=2) + "\n")
        certs = tmp / "certs"
        certs.mkdir()
        (certs / "seal.pem").write_bytes(signer_cert_pem(batch.seal))
        (certs / "seal-ca.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in ctx.seal_roots))
        tsa_chain = split_pem(batch.tsa_chain)
        (certs / "tsa.pem").write_text(tsa_chain[0])
        (certs / "tsa-ca.pem").write_bytes(_tsa_anchors(ctx, tsa_chain))
        evidence = json.loads(item.evidence)
        statement = _client_statement(ctx, item, evidence, tmp)
        # whose seal and whose clock (ADR 0009): the vault's sealing certificates, its own TSAs
        trust = declaration(ctx.seal_roots.fingerprints, ctx.own_tsa_fingerprints)
        (tmp / TRUST_FILE).write_text(json.dumps(trust, indent=2) + "\n")
        tsa_fp = fingerprint(x509.load_pem_x509_certificate(tsa_chain[0].encode()))
        (tmp / "VERIFY.md").write_text(
            verify_md(
                evidence,
                json.loads(batch.manifest),
                json.loads(item.path),
                salt=salt,
                trust=trust,
                tsa_fingerprint=tsa_fp,
                client=statement,
            )
        )
    return out.absolute()
