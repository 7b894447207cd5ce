"""Offline verification of a proof folder: no vault, no network, only the folder's files.

The folder carries its own trust anchors (``certs/``); the report shows their fingerprints,
and ``--seal-ca`` / ``--tsa-ca`` pin anchors obtained out of band instead. A folder whose
anchors were swapped verifies against *its* anchors, which is why pinning matters.

The seal's signer must also be one of the vault's sealing certificates (ADR 0009): the
fingerprints pinned with ``--seal-fingerprint``, or else the ones the folder declares in
``trust.json``, which only shows the folder is self-consistent (the report says which).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from vault.devices.evidence import FIELD as CLIENT_FIELD
from vault.devices.evidence import Opened
from vault.devices.evidence import is_sealed as is_sealed_statement
from vault.devices.evidence import open_field as open_statement
from vault.devices.statement import load_public_key
from vault.errors import ConfigError, InputError, SealError
from vault.ers.verify import ERS_FILE, summary, verify_record
from vault.evidence.kinds import RECORD_KINDS
from vault.evidence.manifest import MANIFEST_TYPES, is_salted
from vault.evidence.receipt import verify_receipt
from vault.keys.pki import load_cert, load_certs
from vault.privacy.commitments import check_disclosure
from vault.seal.identity import SealTrust, normalize_fingerprint
from vault.verify.client_signature import check_client_signature
from vault.verify.declared import read_declared
from vault.verify.proof_checks import check_batch_proof, check_payload, load_json
from vault.verify.report import Report

REQUIRED = (
    "payload",
    "evidence.json",
    "batch.json",
    "path.json",
    "seal.p7s",
    "timestamp.tsr",
    "certs/seal-ca.pem",
    "certs/tsa-ca.pem",
    "certs/tsa.pem",
)


def _chunks(path: Path, size: int = 1024 * 1024) -> object:
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


def _fingerprints(certs: list[x509.Certificate]) -> str:
    return ", ".join(f"{c.subject.rfc4514_string()} sha256:{c.fingerprint(hashes.SHA256()).hex()}" for c in certs)


def _content_salt(folder: Path) -> bytes | str:
    """``content-salt.hex`` of a ``vault-evidence/2`` item's folder, or why it is unusable."""
    path = folder / "content-salt.hex"
    if not path.is_file():
        return "content-salt.hex is missing from the folder"
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (ValueError, UnicodeDecodeError) as e:
        return f"content-salt.hex is not hexadecimal ({e})"


def _check_receipt(report: Report, folder: Path, trust: SealTrust) -> None:
    """``receipt.json``, when the folder has one: sealed by the same vault, over this evidence."""
    path = folder / "receipt.json"
    if not path.is_file():
        return
    try:
        receipt = load_json(path.read_bytes(), "receipt.json")
        manifest = verify_receipt(receipt, trust)
        if manifest.get("id") != report.item:
            raise InputError("the receipt is for another item", detail=str(manifest.get("id")))
        report.add("receipt", True, "the deposit receipt verifies and covers this item")
    except (InputError, SealError) as e:
        report.add("receipt", False, f"deposit receipt invalid: {e}")


def _check_client_statement(report: Report, folder: Path, evidence: dict[str, Any]) -> None:
    """``client-statement.json``, ``.sig`` and ``device.pem``: the device signed this deposit.
    A statement in clear in the evidence must be those very bytes; a sealed one (an erasable
    item) is bound through what it names: this payload's SHA-256, tenant, session, kind,
    idempotency key, and the device key's sealed fingerprint."""
    files = [folder / n for n in ("client-statement.json", "client-statement.sig", "device.pem")]
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        report.add("client_signature", False, "the evidence is signed by a device, but missing: " + ", ".join(missing))
        return
    try:
        _alg, spki = load_public_key(files[2].read_bytes())
        head = evidence[CLIENT_FIELD]
        sealed = is_sealed_statement(evidence)
        opened = open_statement(evidence, item_id=report.item, dek=None) if not sealed else None
        statement, signature = files[0].read_bytes(), files[1].read_bytes()
        if opened is not None and (
            opened.statement != statement or opened.signature != signature or opened.public_key != spki
        ):
            raise InputError("the folder's client statement, signature or device key is not the one sealed")
        found = Opened(
            statement=statement,
            signature=signature,
            public_key=spki,
            device=str(head.get("device")),
            algorithm=str(head.get("algorithm")),
            fingerprint=str(head.get("fingerprint")),
        )
    except (InputError, TypeError, AttributeError) as e:
        report.add("client_signature", False, str(e))
        return
    plain = hashlib.sha256()
    for chunk in _chunks(folder / "payload"):  # type: ignore[attr-defined]
        plain.update(chunk)
    record = evidence.get("kind") in {k.value for k in RECORD_KINDS}
    check_client_signature(report, found, evidence, plain_sha256=None if record else plain.hexdigest())


def _check_evidence_record(
    report: Report,
    folder: Path,
    evidence_bytes: bytes,
    tsa_roots: list[x509.Certificate],
    at: dt.datetime | None,
    weak: Mapping[str, dt.datetime] | None,
) -> None:
    """``evidence-record.ers`` (RFC 4998), when the folder has one (folders exported before
    it existed do not): it proves evidence.json as of ``at`` (default now) on its own."""
    path = folder / ERS_FILE
    if not path.is_file():
        report.info["evidence_record"] = "absent"
        return
    ers = verify_record(path.read_bytes(), evidence_bytes, roots=tsa_roots, at=at, weak=weak)
    report.add("evidence_record", ers.valid, summary(ers))
    report.info["evidence_record"] = {
        "status": ers.status,
        "at": ers.at.isoformat(),
        "renew_by": ers.renew_by.isoformat() if ers.renew_by else None,
        "timestamps": [t.as_json() for t in ers.timestamps],
    }


def verify_bundle(
    folder: Path,
    *,
    seal_ca: Path | None = None,
    tsa_ca: Path | None = None,
    seal_fingerprints: Sequence[str] = (),
    at: dt.datetime | None = None,
    weak: Mapping[str, dt.datetime] | None = None,
) -> Report:
    """Check a proof folder offline. ``at`` and ``weak`` (algorithm -> date it counts as
    weak from) only concern its evidence record: provable as of ``at`` (default now)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("no such proof folder", detail=str(folder))
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    evidence_bytes = (folder / "evidence.json").read_bytes() if (folder / "evidence.json").is_file() else b""
    report = Report(item="?")
    if missing:
        report.add("bundle_files", False, "missing: " + ", ".join(missing))
        return report
    report.add("bundle_files", True, "all files present")
    try:
        evidence = load_json(evidence_bytes, "evidence.json")
        if evidence.get("type") not in MANIFEST_TYPES:
            raise InputError(
                f"evidence.json is not a {' or '.join(sorted(MANIFEST_TYPES))} manifest",
                detail=str(evidence.get("type")),
            )
    except InputError as e:
        report.add("evidence_manifest", False, str(e))
        return report
    try:
        path_obj = load_json((folder / "path.json").read_bytes(), "path.json")
    except InputError as e:
        path_obj = {"unreadable": str(e)}
    report.item = str(evidence.get("id", "?"))
    try:
        seal_roots = load_certs(seal_ca or folder / "certs/seal-ca.pem")
        tsa_roots = load_certs(tsa_ca or folder / "certs/tsa-ca.pem")
        tsa_cert = load_cert(folder / "certs/tsa.pem")
        pins = [normalize_fingerprint(f) for f in seal_fingerprints]
    except ConfigError as e:
        report.add("trust_anchors", False, str(e))
        return report
    declared = read_declared(folder)
    trust = SealTrust.of(seal_roots, pins or declared.seal_fingerprints, pinned=bool(pins))
    report.info["seal_identity"] = "pinned" if pins else "declared by the folder"
    seal_src = "pinned" if seal_ca else "from the folder"
    tsa_src = "pinned" if tsa_ca else "from the folder"
    report.info["anchors"] = "pinned" if seal_ca and tsa_ca else "partly pinned" if seal_ca or tsa_ca else "folder"
    hint = "" if seal_ca and tsa_ca else " (compare with published fingerprints, or pin with --seal-ca/--tsa-ca)"
    signers = (
        "sealing certificate(s) pinned: " + ", ".join(sorted(trust.fingerprints))
        if pins
        else "sealing certificate(s) as declared by the folder's trust.json, not pinned: "
        + (", ".join(sorted(trust.fingerprints)) or f"none ({declared.problem})")
        + " (pin with --seal-fingerprint)"
    )
    report.add(
        "trust_anchors",
        True,
        f"seal CA {seal_src}: {_fingerprints(seal_roots)}; TSA CA {tsa_src}: {_fingerprints(tsa_roots)}{hint}; "
        + signers,
    )
    salt = _content_salt(folder) if is_salted(evidence) else None
    check_payload(report, _chunks(folder / "payload"), evidence, salt)  # type: ignore[arg-type]
    check_batch_proof(
        report,
        evidence_bytes=evidence_bytes,
        path_obj=path_obj,
        batch_bytes=(folder / "batch.json").read_bytes(),
        seal=(folder / "seal.p7s").read_bytes(),
        tsr=(folder / "timestamp.tsr").read_bytes(),
        seal_roots=trust,
        tsa_roots=tsa_roots,
        tsa_cert=tsa_cert,
        self_operated_tsas=declared.self_operated_tsas,
    )
    _check_evidence_record(report, folder, evidence_bytes, tsa_roots, at, weak)
    _check_receipt(report, folder, trust)
    if CLIENT_FIELD in evidence:
        _check_client_statement(report, folder, evidence)
    disclosures_file = folder / "disclosures.json"
    if disclosures_file.is_file():
        try:
            items = json.loads(disclosures_file.read_text())
            fields = [check_disclosure(d, evidence.get("commitments", {})).name for d in items]
            report.add(
                "disclosures",
                True,
                "disclosed fields match their commitments: " + ", ".join(fields),
            )
        except (InputError, ValueError, TypeError) as e:
            report.add("disclosures", False, f"disclosure invalid: {e}")
    return report
