"""Litigation exports (issue 10): minimal disclosure, a sealed and timestamped export.json,
offline verification with pinned anchors or with the integrity-only notice, tampering named,
roles, the journal. Runs on SQLite and, in CI, on PostgreSQL (make test-pg)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import run_cli
from export_support import ALICE, BOB, CAROL, LEGAL, SESSION, Case, export_case, make_case, require_tool
from vault.access.principal import Principal, Role
from vault.config import Settings
from vault.context import VaultContext
from vault.errors import InputError, NotFound
from vault.export.selection import Selection
from vault.index.models import JournalEntry
from vault.keys.pki import load_cert
from vault.privacy.commitments import disclose as make_disclosure
from vault.seal.identity import fingerprint
from vault.service.exports import export
from vault.service.holds import add as add_hold
from vault.verify.export_bundle import NOTICE_UNPINNED, verify_export


@pytest.fixture
def case(ctx: VaultContext) -> Case:
    return make_case(ctx)


@pytest.fixture
def bundle(case: Case, tmp_path: Path) -> Path:
    export_case(case.ctx, tmp_path / "case.zip")
    return tmp_path / "case.zip"


def _pins(settings: Settings) -> dict[str, Path]:
    return {"seal_ca": settings.seal_ca, "tsa_ca": settings.tsas[0].ca}


def _unzip(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(src) as z:
        z.extractall(dest)
    return dest


def _rezip(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(folder).as_posix())
    return out


def _failed(report) -> list[str]:  # type: ignore[no-untyped-def]
    return list(report.failed)


def test_the_bundle_verifies_with_pinned_anchors_and_says_integrity_only_without(
    bundle: Path, case: Case, settings: Settings
) -> None:
    pinned = verify_export(bundle, **_pins(settings))
    assert pinned.valid, pinned.failed
    assert pinned.pinned and pinned.notice is None
    assert {r.item for r in pinned.items} == set(case.selected)
    statuses = {r.item: r.status for r in pinned.items}
    assert statuses[case.erased] == "destroyed" and statuses[case.log] == "valid"

    # the fingerprints as /v1/certificates publishes them pin as well as the files do
    fps = [fingerprint(load_cert(settings.seal_cert)), fingerprint(load_cert(settings.tsas[0].ca))]
    by_fp = verify_export(bundle, fingerprints=fps)
    assert by_fp.valid and by_fp.pinned, by_fp.failed

    unpinned = verify_export(bundle)
    assert unpinned.valid and not unpinned.pinned
    assert unpinned.notice == NOTICE_UNPINNED and unpinned.as_json()["notice"].startswith("integrity only")

    # a fingerprint of some other certificate: the bundle is not from the provider pinned
    stranger = verify_export(bundle, fingerprints=["ab" * 32])
    assert not stranger.valid and "match no certificate" in " ".join(stranger.failed)
    # a malformed pin is the recipient's input error (exit 2), not a verdict on the bundle
    with pytest.raises(InputError, match="--fingerprint is the SHA-256"):
        verify_export(bundle, fingerprints=["zz"])


def test_a_bundle_under_another_seal_ca_fails_once_the_real_one_is_pinned(
    bundle: Path, settings: Settings, tmp_path: Path
) -> None:
    from vault.keys.pki import generate_dev_pki

    other = generate_dev_pki(tmp_path / "other-pki")
    report = verify_export(bundle, seal_ca=other.seal_ca.cert, tsa_ca=settings.tsas[0].ca)
    assert not report.valid
    assert any(f.startswith(("export_seal", "batch ")) for f in report.failed), report.failed


def test_undisclosed_values_appear_nowhere_in_the_zip(bundle: Path, case: Case) -> None:
    raw = bundle.read_bytes()
    members: dict[str, bytes] = {}
    with zipfile.ZipFile(bundle) as z:
        for name in z.namelist():
            members[name] = z.read(name)
    texts = [raw, *members.values()]
    pdf = members["report.pdf"]
    texts.extend(_pdf_streams(pdf))
    require_tool("pdftotext", "poppler-utils")
    texts.append(subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout)
    secrets = [
        BOB["ip"], BOB["device_id"], BOB["user"], BOB["subject"],
        CAROL["ip"], CAROL["device_id"], CAROL["user"], CAROL["subject"],
        ALICE["device_id"], ALICE["user"], ALICE["subject"],
    ]  # fmt: skip
    for secret in secrets:
        for form in {secret.encode(), secret.encode("utf-16-le"), base64.b64encode(secret.encode())}:
            hits = [i for i, t in enumerate(texts) if form in t]
            assert not hits, f"{secret!r} found in the bundle"
    # what is disclosed is there, and only Alice's
    assert any(ALICE["ip"].encode() in m for m in members.values() if m is not members["report.pdf"]) or any(
        ALICE["ip"] in _decoded_disclosures(m) for m in members.values()
    )
    for item in case.other:
        assert not any(item in n for n in members), "an item of another session is in the bundle"
        assert item.encode() not in members["export.json"]


def _pdf_streams(pdf: bytes) -> list[bytes]:
    out = []
    for part in pdf.split(b"stream")[1:]:
        body = part.split(b"endstream")[0].strip(b"\r\n")
        try:
            out.append(zlib.decompress(body))
        except zlib.error:
            out.append(body)
    return out


def _decoded_disclosures(member: bytes) -> str:
    try:
        listed = json.loads(member)
        return " ".join(base64.urlsafe_b64decode(d + "=" * (-len(d) % 4)).decode() for d in listed)
    except (ValueError, TypeError, AttributeError):
        return ""


def test_the_disclosed_ip_checks_against_its_sealed_commitment(bundle: Path, case: Case, tmp_path: Path) -> None:
    d = _unzip(bundle, tmp_path / "b")
    for item in (case.record, case.log, case.doc):
        evidence = json.loads((d / f"items/{item}/evidence.json").read_text())
        listed = json.loads((d / f"items/{item}/disclosures.json").read_text())
        assert len(listed) == 1, "only ip is disclosed"
        _salt, name, value = json.loads(base64.urlsafe_b64decode(listed[0] + "=" * (-len(listed[0]) % 4)))
        assert (name, value) == ("ip", ALICE["ip"])
        assert hashlib.sha256(listed[0].encode()).hexdigest() == evidence["commitments"]["ip"]
        assert {"device_id", "user", "subject"} & set(evidence["commitments"]) <= {"device_id", "user", "subject"}
    # the record's content (every field's disclosure) is not in the bundle; the files' are
    assert not (d / f"items/{case.record}/payload").exists()
    assert (d / f"items/{case.log}/payload").read_bytes().startswith(b"09:32:04")
    assert not (d / f"items/{case.erased}/payload").exists()
    assert (d / f"items/{case.erased}/destruction.json").is_file()


def test_a_changed_disclosed_value_fails_naming_the_field(
    bundle: Path, case: Case, settings: Settings, tmp_path: Path
) -> None:
    d = _unzip(bundle, tmp_path / "b")
    forged = make_disclosure("ip", "203.0.113.78").encoded
    (d / f"items/{case.record}/disclosures.json").write_text(json.dumps([forged]))
    report = verify_export(_rezip(d, tmp_path / "forged.zip"), **_pins(settings))
    assert not report.valid
    failed = " | ".join(report.failed)
    assert f"items/{case.record}/disclosures.json differs from export.json" in failed
    assert (
        f"item {case.record}: disclosure: field ip: the disclosed value does not match its sealed commitment" in failed
    )


def test_a_removed_item_fails_and_so_does_a_rewritten_manifest(
    bundle: Path, case: Case, settings: Settings, tmp_path: Path
) -> None:
    d = _unzip(bundle, tmp_path / "b")
    shutil.rmtree(d / f"items/{case.doc}")
    report = verify_export(_rezip(d, tmp_path / "removed.zip"), **_pins(settings))
    assert not report.valid
    assert f"items/{case.doc}/evidence.json is missing" in " | ".join(report.failed)

    # ... and dropping it from export.json too breaks the vault's seal over export.json
    doc = json.loads((d / "export.json").read_bytes())
    doc["items"] = [i for i in doc["items"] if i["id"] != case.doc]
    doc["files"] = {k: v for k, v in doc["files"].items() if case.doc not in k}
    (d / "export.json").write_text(json.dumps(doc))
    report = verify_export(_rezip(d, tmp_path / "rewritten.zip"), **_pins(settings))
    assert not report.valid
    failed = " | ".join(report.failed)
    assert "export_seal:" in failed and "export_timestamp:" in failed


def test_a_swapped_batch_fails_naming_the_batch(bundle: Path, case: Case, settings: Settings, tmp_path: Path) -> None:
    d = _unzip(bundle, tmp_path / "b")
    doc = json.loads((d / "export.json").read_bytes())
    seqs = [b["seq"] for b in doc["batches"]]
    assert len(seqs) >= 2
    a, b = (d / f"batches/{seqs[0]:012d}"), (d / f"batches/{seqs[1]:012d}")
    shutil.move(a, tmp_path / "a")
    shutil.move(b, a)
    shutil.move(tmp_path / "a", b)
    report = verify_export(_rezip(d, tmp_path / "swapped.zip"), **_pins(settings))
    assert not report.valid
    failed = " | ".join(report.failed)
    assert f"batch {seqs[0]}: " in failed and "batch.json is batch" in failed
    assert "path_to_root" in failed


def test_one_flipped_payload_byte_fails(bundle: Path, case: Case, settings: Settings, tmp_path: Path) -> None:
    d = _unzip(bundle, tmp_path / "b")
    p = d / f"items/{case.log}/payload"
    data = bytearray(p.read_bytes())
    data[3] ^= 1
    p.write_bytes(bytes(data))
    report = verify_export(_rezip(d, tmp_path / "flip.zip"), **_pins(settings))
    failed = " | ".join(report.failed)
    assert f"item {case.log}: payload_digest" in failed and f"items/{case.log}/payload differs" in failed


def test_openssl_accepts_the_manifest_seal_and_every_token(bundle: Path, tmp_path: Path) -> None:
    d = _unzip(bundle, tmp_path / "b")

    def run(*args: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=d)

    cms = run("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "export.p7s", "-content",
              "export.json", "-CAfile", "certs/seal-ca.pem", "-purpose", "any", "-out", "/dev/null")  # fmt: skip
    assert cms.returncode == 0 and "Verification successful" in cms.stderr, cms.stderr
    ts = run("openssl", "ts", "-verify", "-data", "export.json", "-in", "export.tsr", "-CAfile", "certs/tsa-ca.pem",
             "-untrusted", "export-tsa.pem")  # fmt: skip
    assert ts.returncode == 0 and "Verification: OK" in ts.stdout, ts.stdout + ts.stderr
    doc = json.loads((d / "export.json").read_bytes())
    for b in doc["batches"]:
        ts = run("openssl", "ts", "-verify", "-digest", b["root"], "-in", f"{b['dir']}/timestamp.tsr",
                 "-CAfile", "certs/tsa-ca.pem", "-untrusted", f"certs/tsa/{b['tsa_certificate']}.pem")  # fmt: skip
        assert ts.returncode == 0, ts.stdout + ts.stderr
        cms = run("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", f"{b['dir']}/seal.p7s", "-content",
                  f"{b['dir']}/batch.json", "-CAfile", "certs/seal-ca.pem", "-purpose", "any", "-out", "/dev/null")  # fmt: skip
        assert cms.returncode == 0, cms.stderr
    sums = run("sha256sum", "-c", "--quiet", "SHA256SUMS")
    assert sums.returncode == 0, sums.stdout + sums.stderr


def test_the_export_is_journalled_and_deterministic_in_layout(bundle: Path, case: Case) -> None:
    with case.ctx.sessions() as s:
        entries = s.scalars(select(JournalEntry).where(JournalEntry.action == "export")).all()
    assert len(entries) == 1
    body = json.loads(entries[0].body)
    doc = json.loads(zipfile.ZipFile(bundle).read("export.json"))
    assert body["details"]["export"] == doc["id"] and body["details"]["case"] == "RG 24/01234"
    assert (
        body["details"]["export_json_sha256"] == hashlib.sha256(zipfile.ZipFile(bundle).read("export.json")).hexdigest()
    )
    assert body["actor"] == LEGAL.actor and body["role"] == "legal"
    names = zipfile.ZipFile(bundle).namelist()
    assert names[-4:] == ["export.json", "export.p7s", "export.tsr", "export-tsa.pem"]
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zipfile.ZipFile(bundle).infolist())


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.AUDITOR, Role.ORG_ADMIN, Role.DPO])
def test_other_roles_are_told_not_found(case: Case, tmp_path: Path, role: Role) -> None:
    who = Principal(f"key:{role.value}", role, tenant="acme", key_id=role.value)
    sel = Selection(tenant="acme", case="RG 1", sessions=(SESSION,))
    with pytest.raises(NotFound):
        export(case.ctx, who, sel, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


def test_another_tenants_legal_key_is_told_not_found(case: Case, tmp_path: Path) -> None:
    who = Principal("key:beta-legal", Role.LEGAL, tenant="beta", key_id="beta-legal")
    with pytest.raises(NotFound):
        export(case.ctx, who, Selection(tenant="acme", case="RG 1", sessions=(SESSION,)), tmp_path / "x.zip")


def test_a_hold_selects_what_it_covers(case: Case, tmp_path: Path, settings: Settings) -> None:
    add_hold(case.ctx, LEGAL, tenant="acme", case="RG 24/01234", session=SESSION)
    r = export_case(case.ctx, tmp_path / "hold.zip", sessions=(), hold="RG 24/01234")
    assert r.items == 4
    with pytest.raises(NotFound, match="no legal hold"):
        export_case(case.ctx, tmp_path / "none.zip", sessions=(), hold="RG 99/1")
    assert verify_export(tmp_path / "hold.zip", **_pins(settings)).valid


def test_bad_selections_are_refused_before_anything_is_written(case: Case, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="select what to export"):
        Selection(tenant="acme", case="RG 1")
    with pytest.raises(InputError, match="disclosed field"):
        Selection(tenant="acme", case="RG 1", sessions=("s",), disclose=("ip; rm -rf",))
    with pytest.raises(InputError, match="nothing to export"):
        export_case(case.ctx, tmp_path / "empty.zip", sessions=("no-such-session",))
    with pytest.raises(NotFound):
        export_case(case.ctx, tmp_path / "x.zip", sessions=(), items=("ev_nosuchitem",))
    assert list(tmp_path.glob("*.zip")) == [] and list(tmp_path.glob(".*part")) == []


def test_cli_export_and_verify_bundle(case: Case, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "cli.zip"
    r = run_cli(settings, "export", "--tenant", "acme", "--case", "RG 7", "--session", SESSION, "--disclose", "ip",
                "--out", str(out), "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["items"] == 4
    r = run_cli(settings, "verify", "--bundle", str(out), "--seal-ca", str(settings.seal_ca),
                "--tsa-ca", str(settings.tsas[0].ca), "--json")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["anchors"] == "pinned"
    r = run_cli(settings, "verify", "--bundle", str(out))
    assert r.returncode == 0 and b"integrity only" in r.stderr
    with zipfile.ZipFile(out) as z, zipfile.ZipFile(tmp_path / "bad.zip", "w") as w:
        for info in z.infolist():
            data = z.read(info)
            w.writestr(info, data.replace(b"09:32:04", b"09:32:05") if info.filename.endswith("payload") else data)
    r = run_cli(settings, "verify", "--bundle", str(tmp_path / "bad.zip"))
    assert r.returncode == 1 and b"payload_digest" in r.stdout
    r = run_cli(settings, "export", "--tenant", "acme", "--case", "RG 7", "--out", str(tmp_path / "x.zip"))
    assert r.returncode != 0 and b"select what to export" in r.stderr
    assert not (tmp_path / "x.zip").exists()


def test_the_report_lists_every_item(bundle: Path, case: Case, tmp_path: Path) -> None:
    require_tool("pdftotext", "poppler-utils")
    pdf = zipfile.ZipFile(bundle).read("report.pdf")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    flat = text.replace("\n", "").replace(" ", "")
    for item in case.selected:
        assert item in flat, item
    assert ALICE["ip"] in text and "RG 24/01234" in text
    assert io.BytesIO(pdf).read(5) == b"%PDF-"


def test_over_the_api_only_the_legal_role_exports_and_the_zip_verifies(api_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import time

    case = make_case(api_server.ctx)
    body = {"case": "RG 24/01234", "sessions": [SESSION], "disclose": ["ip"]}
    for role in ("technician", "auditor", "org_admin", "dpo"):
        with api_server.client(api_server.key(role)) as c:
            r = c.post("/v1/exports", json=body)
            assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", (role, r.text)
    legal = api_server.key("legal")
    with api_server.client(legal) as c:
        bad = c.post("/v1/exports", json={**body, "disclose": ["ip", "no such; field"]})
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        r = c.post("/v1/exports", json=body)
        assert r.status_code == 202, r.text
        href = r.json()["href"]
        assert r.headers["location"] == href
        deadline = time.monotonic() + 60
        while (got := c.get(href)).status_code == 202 and time.monotonic() < deadline:
            assert got.json()["state"] == "running"
            time.sleep(0.2)
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "application/zip"
    (tmp_path / "api.zip").write_bytes(got.content)
    report = verify_export(
        tmp_path / "api.zip", seal_ca=api_server.settings.seal_ca, tsa_ca=api_server.settings.tsas[0].ca
    )
    assert report.valid and report.pinned, report.failed
    assert {r.item for r in report.items} == set(case.selected)
    # the same export id: another role, another tenant, a forged id: "not found"
    with api_server.client(api_server.key("auditor")) as c:
        assert c.get(href).status_code == 404
    with api_server.client(api_server.key("legal", tenant="beta")) as c:
        assert c.get(href).status_code == 404
    with api_server.client(legal) as c:
        assert c.get("/v1/exports/exp_../../etc").status_code == 404
        assert c.get("/v1/exports/exp_01nosuchexport").status_code == 404


def test_batches_between_the_exported_ones_are_shown_and_needed(case: Case, settings: Settings, tmp_path: Path) -> None:
    # the record and Carol's log are in batch 1, her destruction record in batch 3: batch 2 links them
    export_case(case.ctx, tmp_path / "gap.zip", sessions=(), items=(case.record, case.erased))
    with zipfile.ZipFile(tmp_path / "gap.zip") as z:
        doc = json.loads(z.read("export.json"))
    assert [b["seq"] for b in doc["batches"]] == [1, 3] and [c["seq"] for c in doc["chain"]] == [2]
    assert verify_export(tmp_path / "gap.zip", **_pins(settings)).valid
    d = _unzip(tmp_path / "gap.zip", tmp_path / "g")
    (d / "chain/000000000002.json").unlink()
    report = verify_export(_rezip(d, tmp_path / "cut.zip"), **_pins(settings))
    assert "chain: chain broken: batch 2 is missing between batches 1 and 3" in report.failed


def test_a_tampered_index_row_aborts_the_export_and_writes_nothing(case: Case, tmp_path: Path) -> None:
    from sqlalchemy import update

    from vault.errors import Conflict
    from vault.index.models import Item

    with case.ctx.sessions() as s:
        row = s.scalars(select(Item).where(Item.id == case.doc)).one()
        forged = bytes(row.evidence).replace(b'"kind":"signed_document"', b'"kind":"session_log"')
        s.execute(update(Item).where(Item.id == case.doc).values(evidence=forged))
        s.commit()
    with pytest.raises(Conflict, match=f"item {case.doc} fails verification.*evidence_leaf"):
        export_case(case.ctx, tmp_path / "t.zip")
    assert list(tmp_path.glob("*.zip")) == [] and list(tmp_path.glob(".*.part")) == []


def test_a_restricted_subjects_items_are_exported_for_the_legal_role(
    case: Case, settings: Settings, tmp_path: Path
) -> None:
    from export_support import DPO
    from vault.service import subjects

    subjects.restrict(case.ctx, DPO, "acme", ALICE["subject"])
    r = export_case(case.ctx, tmp_path / "r.zip")
    assert r.items == 4 and verify_export(tmp_path / "r.zip", **_pins(settings)).valid
