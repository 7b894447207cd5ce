"""Salted content digests (``vault-evidence/2``, docs/decisions/0010-salted-content-digests.md).

An erasable file item's plain SHA-256 / SHA3-256 appear nowhere the vault writes (bucket,
index, journal); its evidence commits to salt || content, the salt sealed under its data key,
so the erasure of the key leaves nothing to confirm a guess against, while the item still
verifies as erased with its proof of existence. Transaction proofs keep plain digests.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from vault.access.principal import Principal, Role
from vault.batch.sealer import seal_pending
from vault.context import VaultContext
from vault.envelope.stream import DecryptionError
from vault.evidence.manifest import MANIFEST_TYPE, SALTED_MANIFEST_TYPE
from vault.evidence.sealed import open_salt
from vault.index.models import Item
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.privacy.erasure import erase_subject
from vault.proof.export import export_proof
from vault.service import items as service_items
from vault.verify.bundle import verify_bundle
from vault.verify.online import verify_item
from vault.verify.proof_checks import check_payload
from vault.verify.report import Report
from vault_support import bucket_objects, index_rows, journal

SHORT = b"OK\n"  # short, templated content: exactly what a guess would confirm
AUDITOR = Principal("auditor@acme", Role.AUDITOR, tenant="acme")
VECTORS = Path(__file__).parent / "vectors"


def _deposit(ctx: VaultContext, data: bytes, *, tenant: str = "acme", kind: str = "session_log", subject: str = "alice",
             announce: bool = True, meta: dict[str, Any] | None = None) -> str:  # fmt: skip
    req = validate(tenant=tenant, session="s1", kind=kind, subject=subject, meta=meta)
    expected = hashlib.sha256(data).hexdigest() if announce else None
    return deposit_stream(ctx, io.BytesIO(data), req, expected_sha256=expected).item_id


def _row(ctx: VaultContext, item_id: str) -> Item:
    with ctx.sessions() as s:
        row = s.scalars(select(Item).where(Item.id == item_id)).one()
        s.expunge(row)
        return row


def _needles(data: bytes) -> dict[str, bytes]:
    """Every form a plain digest of ``data`` could take in what the vault writes."""
    out = {}
    for name, raw in (("sha256", hashlib.sha256(data).digest()), ("sha3-256", hashlib.sha3_256(data).digest())):
        out[f"{name} raw"] = raw
        out[f"{name} hex"] = raw.hex().encode()
        out[f"{name} HEX"] = raw.hex().upper().encode()
        out[f"{name} base64"] = base64.b64encode(raw).rstrip(b"=")
        out[f"{name} base64url"] = base64.urlsafe_b64encode(raw).rstrip(b"=")
    return out


def _leaks(places: dict[str, bytes], needles: dict[str, bytes]) -> list[str]:
    return [f"{what} in {where}" for where, data in places.items() for what, n in needles.items() if n in data]


def test_an_erasable_file_item_leaves_no_plain_digest_anywhere(ctx: VaultContext, tmp_path: Path) -> None:
    item_id = _deposit(ctx, SHORT, meta={"ip": "192.0.2.7"})  # the announced digest is checked, not kept
    seal_pending(ctx)
    row = _row(ctx, item_id)
    evidence = json.loads(row.evidence or b"")
    assert evidence["type"] == SALTED_MANIFEST_TYPE
    assert set(evidence["content"]) == {"size", "salted_sha256", "salted_sha3-256", "salt_sealed"}
    assert row.sha256 is None  # items.sha256 is NULL for a salted item
    deposit = next(e for e in journal(ctx, "deposit") if item_id in e["details"]["items"])
    assert "sha256" not in deposit["details"]

    needles = _needles(SHORT)
    objects = bucket_objects(ctx)
    assert any(k.startswith(f"t/acme/items/{item_id}.manifest.json") for k in objects)
    assert any("/journal.json@" in k for k in objects)  # the WORM journal is among them
    assert _leaks(objects, needles) == []
    assert _leaks(index_rows(ctx), needles) == []

    # the salted digest checks with openssl alone, given the disclosed salt
    folder = export_proof(ctx, item_id, tmp_path / "proof")
    salt = bytes.fromhex((folder / "content-salt.hex").read_text().strip())
    assert len(salt) >= 16
    for algo, field in (("-sha256", "salted_sha256"), ("-sha3-256", "salted_sha3-256")):
        out = subprocess.run(["openssl", "dgst", algo], input=salt + SHORT, capture_output=True, check=True)
        assert out.stdout.decode().split()[-1] == evidence["content"][field]
    # and VERIFY.md's own commands (bash) give the same value
    verify_md = (folder / "VERIFY.md").read_text()
    cmd = next(line.strip() for line in verify_md.splitlines() if line.strip().startswith("printf '%b'"))
    out = subprocess.run(["bash", "-c", cmd + " && cat content-salt.bin payload | openssl dgst -sha256"],
                         cwd=folder, capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.split()[-1] == evidence["content"]["salted_sha256"]
    assert evidence["content"]["salted_sha256"] in verify_md

    assert verify_item(ctx, item_id).status == "valid"
    assert {c.name for c in verify_item(ctx, item_id).checks} >= {"content_salt", "payload_digest"}
    assert verify_bundle(folder).status == "valid"


def test_a_transaction_proof_keeps_its_plain_digest_and_is_found_by_file(ctx: VaultContext) -> None:
    doc = b"contract 2026-117, signed by both parties\n"
    item_id = _deposit(ctx, doc, kind="transaction_proof")
    seal_pending(ctx)
    row = _row(ctx, item_id)
    evidence = json.loads(row.evidence or b"")
    assert evidence["type"] == MANIFEST_TYPE
    assert evidence["content"]["sha256"] == row.sha256 == hashlib.sha256(doc).hexdigest()
    found = service_items.verify_file(ctx, AUDITOR, io.BytesIO(doc)).as_json()
    assert found["status"] == "valid" and found["item"] == item_id
    by_digest = service_items.verify_digest(ctx, AUDITOR, hashlib.sha256(doc).hexdigest()).as_json()
    assert by_digest["item"] == item_id


def test_lookup_by_file_finds_an_erasable_item_by_its_salted_digest(ctx: VaultContext) -> None:
    mine = _deposit(ctx, b"session log A\n")
    _deposit(ctx, b"session log B\n")  # same size, other content: a candidate that must not match
    _deposit(ctx, b"session log A\n", tenant="beta")  # same content, other tenant: out of scope
    seal_pending(ctx)
    found = service_items.verify_file(ctx, AUDITOR, io.BytesIO(b"session log A\n")).as_json()
    assert found["status"] == "valid", found
    assert [r["item"] for r in found["items"]] == [mine]
    assert "erased" in found["note"]
    # the plain digest is no way in, and nothing is journalled that would name it
    assert (
        service_items.verify_digest(ctx, AUDITOR, hashlib.sha256(b"session log A\n").hexdigest()).as_json()["status"]
        == "not_found"
    )
    needles = _needles(b"session log A\n")
    assert _leaks(index_rows(ctx), needles) == []
    other = service_items.verify_file(ctx, AUDITOR, io.BytesIO(b"session log C\n")).as_json()
    assert other["status"] == "not_found" and other["items"] == []


def test_after_erasure_the_item_verifies_as_erased_and_its_salt_is_gone(ctx: VaultContext, tmp_path: Path) -> None:
    item_id = _deposit(ctx, SHORT, subject="bob")
    seal_pending(ctx)
    export_proof(ctx, item_id, tmp_path / "before")  # a folder exported before the erasure
    row = _row(ctx, item_id)
    evidence = json.loads(row.evidence or b"")
    result = erase_subject(ctx, "acme", "bob")
    assert item_id in result.erased
    seal_pending(ctx)

    report = verify_item(ctx, item_id)
    assert report.status == "destroyed", report.as_json()
    ok = {c.name for c in report.checks if c.ok}
    assert {"index_record", "evidence_leaf", "path_to_root", "seal", "timestamp", "destruction_record"} <= ok
    assert "payload_digest" not in {c.name for c in report.checks}  # the content is not claimed either way
    # the salt can no longer be decrypted: the key is gone...
    _key, dek = ctx.data_keys.by_id(row.subject_key_id)
    assert dek is None
    # ...and no other key opens it (a live key of the same subject, another purpose, say)
    _other_key_id, other_dek = ctx.data_keys.data_key("acme", "bob", "use_service")
    with pytest.raises(DecryptionError):
        open_salt(other_dek, item_id, evidence)
    # the content can no longer be confirmed by lookup; the answer says why
    found = service_items.verify_file(ctx, AUDITOR, io.BytesIO(SHORT)).as_json()
    assert found["status"] == "not_found" and "erased" in found["note"]
    # nor exported again; the folder made before still verifies offline
    with pytest.raises(Exception, match=r"erased|destroyed"):
        export_proof(ctx, item_id, tmp_path / "after")
    assert verify_bundle(tmp_path / "before").status == "valid"


def test_a_tampered_salt_or_content_fails_naming_the_check(ctx: VaultContext, tmp_path: Path) -> None:
    item_id = _deposit(ctx, b"intervention log\n" * 50)
    other_id = _deposit(ctx, b"another log\n" * 50)
    seal_pending(ctx)
    good = export_proof(ctx, item_id, tmp_path / "proof")

    def tampered(name: str, change: Any) -> Report:
        d = tmp_path / name
        shutil.copytree(good, d)
        change(d)
        return verify_bundle(d)

    def flip_salt(d: Path) -> None:
        salt = bytearray(bytes.fromhex((d / "content-salt.hex").read_text().strip()))
        salt[0] ^= 1
        (d / "content-salt.hex").write_text(salt.hex() + "\n")

    def flip_payload(d: Path) -> None:
        data = bytearray((d / "payload").read_bytes())
        data[5] ^= 1
        (d / "payload").write_bytes(bytes(data))

    for name, change, reason in (
        ("salt", flip_salt, "salted digest mismatch"),
        ("payload", flip_payload, "salted digest mismatch"),
        ("no-salt", lambda d: (d / "content-salt.hex").unlink(), "content-salt.hex is missing"),
    ):
        report = tampered(name, change)
        failed = {c.name: c.detail for c in report.checks if not c.ok}
        assert list(failed) == ["payload_digest"], (name, failed)
        assert reason in failed["payload_digest"], (name, failed)

    # online: the index's evidence given another item's sealed salt (and a matching leaf)
    with ctx.sessions() as s:
        other = json.loads(s.scalars(select(Item.evidence).where(Item.id == other_id)).one())
        ev = json.loads(s.scalars(select(Item.evidence).where(Item.id == item_id)).one())
        ev["content"]["salt_sealed"] = other["content"]["salt_sealed"]
        forged = json.dumps(ev, sort_keys=True, separators=(",", ":")).encode()
        s.execute(update(Item).where(Item.id == item_id).values(evidence=forged, leaf=hashlib.sha256(forged).digest()))
        s.commit()
    report = verify_item(ctx, item_id)
    failed = {c.name for c in report.checks if not c.ok}
    assert "content_salt" in failed and "payload_digest" in failed and "evidence_leaf" in failed, report.as_json()


def test_v1_vectors_still_verify() -> None:
    """The known-answer vectors of vault-evidence/1 (plain digests) still pass the payload check."""
    leaves = json.loads((VECTORS / "leaves.json").read_text())
    evs1 = json.loads((VECTORS / "evs1.json").read_text())
    assert leaves["manifest_type"] == MANIFEST_TYPE
    plaintexts = {bytes.fromhex(c["plaintext"]) for c in evs1["cases"]}
    checked = 0
    for case in leaves["evidence"]:
        evidence = json.loads(case["evidence_json"])
        assert evidence["type"] == MANIFEST_TYPE
        assert hashlib.sha256(case["evidence_json"].encode()).hexdigest() == case["leaf"]
        for plaintext in plaintexts:
            if hashlib.sha256(plaintext).hexdigest() == evidence["content"]["sha256"]:
                report = Report(evidence["id"])
                assert check_payload(report, [plaintext], evidence), report.as_json()
                checked += 1
    assert checked == len(leaves["evidence"])


def test_api_lookup_by_file(api_server: Any) -> None:
    ctx = api_server.ctx
    item_id = _deposit(ctx, b"support ticket #9, resolved\n")
    seal_pending(ctx)
    key = api_server.key("auditor", tenant="acme")
    with api_server.client(key) as c:
        r = c.post("/v1/verify", files={"file": ("ticket.txt", b"support ticket #9, resolved\n")})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "valid" and body["item"] == item_id and "erased" in body["note"]
        r = c.post("/v1/verify", files={"file": ("x.txt", b"support ticket #8, resolved\n")})
        assert r.status_code == 200 and r.json()["status"] == "not_found", r.text
