"""Proof folders: checked by openssl alone, by `vault verify --bundle`, and tampering shows."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from conftest import run_cli
from vault.batch.sealer import seal_pending
from vault.config import Settings
from vault.context import VaultContext
from vault.errors import Conflict, InputError, SealError
from vault.evidence.receipt import verify_receipt
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.keys.pki import generate_dev_pki, load_cert
from vault.proof.export import export_proof
from vault.seal.cms import Sealer
from vault.verify.bundle import verify_bundle

PAYLOAD = b"Intervention report #42, signed by the customer.\n" * 20


@pytest.fixture
def proof(ctx: VaultContext, tmp_path: Path) -> tuple[Path, str]:
    req = validate(tenant="acme", session="s-9", kind="signed_document", subject="dave", meta={"ip": "192.0.2.55"})
    item_id = deposit_stream(ctx, io.BytesIO(PAYLOAD), req).item_id
    with pytest.raises(Conflict, match="not sealed"):
        export_proof(ctx, item_id, tmp_path / "early")
    seal_pending(ctx)
    return export_proof(ctx, item_id, tmp_path / "proof"), item_id


def _run(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd)


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _failed(report) -> set[str]:  # type: ignore[no-untyped-def]
    return {c.name for c in report.checks if not c.ok}


def test_folder_layout_and_openssl_checks(proof: tuple[Path, str]) -> None:
    d, item_id = proof
    for name in ("payload", "evidence.json", "batch.json", "path.json", "seal.p7s", "timestamp.tsr", "VERIFY.md",
                 "certs/seal-ca.pem", "certs/seal.pem", "certs/tsa-ca.pem", "certs/tsa.pem", "disclosures.json"):  # fmt: skip
        assert (d / name).is_file(), name
    assert (d / "payload").read_bytes() == PAYLOAD
    batch = json.loads((d / "batch.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{64}", batch["root"]) and "previous_root" in batch
    evidence = json.loads((d / "evidence.json").read_text())
    assert evidence["id"] == item_id and "192.0.2.55" not in (d / "evidence.json").read_text()

    ts = _run("openssl", "ts", "-verify", "-digest", batch["root"], "-in", d / "timestamp.tsr",
              "-CAfile", d / "certs/tsa-ca.pem", "-untrusted", d / "certs/tsa.pem")  # fmt: skip
    assert ts.returncode == 0 and "Verification: OK" in ts.stdout, ts.stdout + ts.stderr
    cms = _run("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", d / "seal.p7s", "-content",
               d / "batch.json", "-CAfile", d / "certs/seal-ca.pem", "-purpose", "any", "-out", "/dev/null")  # fmt: skip
    assert cms.returncode == 0 and "Verification successful" in cms.stderr, cms.stderr
    sha = _run("openssl", "dgst", "-sha3-256", "-r", d / "payload")
    assert sha.stdout.split()[0] == evidence["content"]["sha3-256"]

    # openssl refuses a token checked against another digest
    bad = _run("openssl", "ts", "-verify", "-digest", "00" * 32, "-in", d / "timestamp.tsr",
               "-CAfile", d / "certs/tsa-ca.pem", "-untrusted", d / "certs/tsa.pem")  # fmt: skip
    assert bad.returncode != 0


def test_verify_md_commands_reproduce_the_root(proof: tuple[Path, str]) -> None:
    d, _ = proof
    text = (d / "VERIFY.md").read_text()
    batch = json.loads((d / "batch.json").read_text())
    steps = re.findall(r"expect `([0-9a-f]{64})`:\n\n\s+(printf .*)", text)
    assert steps, text
    for expected, command in steps:
        out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True).stdout
        assert out.split()[0] == expected
    assert steps[-1][0] == batch["root"]


def test_receipt_is_a_seal_openssl_accepts(proof: tuple[Path, str], tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    d, item_id = proof
    receipt = json.loads((d / "receipt.json").read_text())
    body, seal = base64.b64decode(receipt["body"]), base64.b64decode(receipt["seal"])
    (tmp_path / "body").write_bytes(body)
    (tmp_path / "seal").write_bytes(seal)
    assert json.loads(body)["items_root"] == receipt["leaf"]  # a single payload: its leaf is the root
    r = _run("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "seal", "-content",
             tmp_path / "body", "-CAfile", d / "certs/seal-ca.pem", "-purpose", "any", "-out", "/dev/null")  # fmt: skip
    assert r.returncode == 0, r.stderr
    roots = [load_cert(pki.seal_ca.cert)]
    assert verify_receipt(receipt, roots)["id"] == item_id
    forged = dict(receipt, evidence=base64.b64encode(b'{"id": "%s"}' % item_id.encode()).decode())
    with pytest.raises(InputError, match="not covered"):
        verify_receipt(forged, roots)
    with pytest.raises(SealError):
        verify_receipt(receipt, [load_cert(pki.tsa_ca.cert)])


def test_bundle_verifies_offline_and_tampering_is_named(proof: tuple[Path, str], tmp_path: Path) -> None:
    d, _ = proof
    report = verify_bundle(d)
    assert report.valid, report.as_json()

    cases = {
        "payload": ("payload", 10, "payload_digest"),
        "evidence": ("evidence.json", 30, "evidence_leaf"),
        "batch": ("batch.json", 40, "seal"),
        "path": ("path.json", 60, "path_to_root"),
        "token": ("timestamp.tsr", 200, "timestamp"),
    }
    for name, (file, at, check) in cases.items():
        copy = tmp_path / name
        shutil.copytree(d, copy)
        _flip(copy / file, at)
        r = verify_bundle(copy)
        assert not r.valid, name
        assert check in _failed(r) or "batch_manifest" in _failed(r), (name, _failed(r))

    missing = tmp_path / "missing"
    shutil.copytree(d, missing)
    (missing / "seal.p7s").unlink()
    r = verify_bundle(missing)
    assert not r.valid and "seal.p7s" in r.checks[0].detail


def test_forged_folder_passes_only_until_anchors_are_pinned(proof: tuple[Path, str], tmp_path: Path) -> None:
    d, _ = proof
    forged = tmp_path / "forged"
    shutil.copytree(d, forged)
    attacker = generate_dev_pki(tmp_path / "attacker")
    batch = json.loads((forged / "batch.json").read_text())
    batch["created_at"] = "1999-01-01T00:00:00.000000Z"
    from vault.evidence.canonical import canonical

    (forged / "batch.json").write_bytes(canonical(batch))
    (forged / "seal.p7s").write_bytes(Sealer.from_files(attacker.seal.cert, attacker.seal.key).seal(canonical(batch)))
    shutil.copy(attacker.seal_ca.cert, forged / "certs/seal-ca.pem")
    trust = json.loads((forged / "trust.json").read_text())
    assert not verify_bundle(forged).valid  # the folder declares the vault's sealing certificate...
    trust["seal_fingerprints"] = [load_cert(attacker.seal.cert).fingerprint(hashes.SHA256()).hex()]
    (forged / "trust.json").write_text(json.dumps(trust))  # ...so the forger rewrites that too,
    (forged / "receipt.json").unlink()  # and drops the receipt, sealed by the vault's certificate
    assert verify_bundle(forged).valid  # self-consistent with its own anchors and declaration...
    pinned = verify_bundle(forged, seal_ca=d / "certs/seal-ca.pem", tsa_ca=d / "certs/tsa-ca.pem")
    assert not pinned.valid and _failed(pinned) == {"seal"}  # ...but not with the provider's


def test_cli_verify_bundle_json_and_exit_codes(settings: Settings, proof: tuple[Path, str], tmp_path: Path) -> None:
    d, _ = proof
    r = run_cli(settings, "verify", "--bundle", str(d), "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["valid"] is True
    assert all({"name", "ok", "detail"} <= set(c) for c in out["checks"])
    bad = tmp_path / "bad"
    shutil.copytree(d, bad)
    _flip(bad / "payload", 0)
    r = run_cli(settings, "verify", "--bundle", str(bad), "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 1 and out["valid"] is False
    assert [c["name"] for c in out["checks"] if not c["ok"]] == ["payload_digest"]
    assert "digest mismatch" in next(c["detail"] for c in out["checks"] if not c["ok"])


def test_backdated_token_from_a_self_signed_tsa_in_the_folder_is_rejected(
    proof: tuple[Path, str], tmp_path: Path
) -> None:
    """A forger swaps in their own token (genTime 2020) and a self-signed "TSA certificate"
    with the real TSA's name: pinning the real TSA CA must reject it (the folder's tsa.pem is
    never a trust anchor)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from vault.timestamp.client import build_request
    from vault.timestamp.responder import TimeStampResponder

    d, _ = proof
    forged = tmp_path / "backdated"
    shutil.copytree(d, forged)
    real = x509.load_pem_x509_certificate((d / "certs/tsa.pem").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    t0 = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
    fake = (
        x509.CertificateBuilder().subject_name(real.subject).issuer_name(real.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(t0).not_valid_after(t0 + dt.timedelta(days=3650))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    req, _ = build_request(bytes.fromhex(json.loads((d / "batch.json").read_text())["root"]))
    tsr = TimeStampResponder(fake, key, clock=lambda: dt.datetime(2020, 6, 1, tzinfo=dt.UTC)).respond(req)
    (forged / "timestamp.tsr").write_bytes(tsr)
    (forged / "certs/tsa.pem").write_bytes(fake.public_bytes(Encoding.PEM))
    pinned = verify_bundle(forged, seal_ca=d / "certs/seal-ca.pem", tsa_ca=d / "certs/tsa-ca.pem")
    assert not pinned.valid and "timestamp" in _failed(pinned)
    assert "trusted" in next(c.detail for c in pinned.checks if c.name == "timestamp")
    # openssl agrees
    r = _run("openssl", "ts", "-verify", "-digest", json.loads((d / "batch.json").read_text())["root"], "-in",
             forged / "timestamp.tsr", "-CAfile", d / "certs/tsa-ca.pem", "-untrusted", forged / "certs/tsa.pem")  # fmt: skip
    assert r.returncode != 0
