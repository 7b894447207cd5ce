"""Offline verification of a proof folder: no vault, no network, only the folder's files.

The folder carries its own trust anchors (``certs/``); the report shows their fingerprints,
and ``--seal-ca`` / ``--tsa-ca`` pin anchors obtained out of band instead. A folder whose
anchors were swapped verifies against *its* anchors, which is why pinning matters.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from vault.errors import ConfigError, InputError
from vault.evidence.manifest import MANIFEST_TYPE
from vault.keys.pki import load_cert, load_certs
from vault.privacy.commitments import check_disclosure
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


def verify_bundle(folder: Path, *, seal_ca: Path | None = None, tsa_ca: Path | None = None) -> Report:
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
        if evidence.get("type") != MANIFEST_TYPE:
            raise InputError(f"evidence.json is not a {MANIFEST_TYPE} manifest", detail=str(evidence.get("type")))
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
    except ConfigError as e:
        report.add("trust_anchors", False, str(e))
        return report
    seal_src = "pinned" if seal_ca else "from the folder"
    tsa_src = "pinned" if tsa_ca else "from the folder"
    report.info["anchors"] = "pinned" if seal_ca and tsa_ca else "partly pinned" if seal_ca or tsa_ca else "folder"
    hint = "" if seal_ca and tsa_ca else " (compare with published fingerprints, or pin with --seal-ca/--tsa-ca)"
    report.add(
        "trust_anchors",
        True,
        f"seal CA {seal_src}: {_fingerprints(seal_roots)}; TSA CA {tsa_src}: {_fingerprints(tsa_roots)}{hint}",
    )
    check_payload(report, _chunks(folder / "payload"), evidence)  # type: ignore[arg-type]
    check_batch_proof(
        report,
        evidence_bytes=evidence_bytes,
        path_obj=path_obj,
        batch_bytes=(folder / "batch.json").read_bytes(),
        seal=(folder / "seal.p7s").read_bytes(),
        tsr=(folder / "timestamp.tsr").read_bytes(),
        seal_roots=seal_roots,
        tsa_roots=tsa_roots,
        tsa_cert=tsa_cert,
    )
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
