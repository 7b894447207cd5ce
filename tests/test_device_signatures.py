"""Device signatures: a technician registers a device key (Ed25519 or ECDSA P-256) bound to its
API key; a deposit carries a signed statement that is verified before anything is stored,
sealed with the item (encrypted for erasable items), reported as ``client_signature`` by
online and offline verification, and verifiable with openssl alone from the proof folder."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy import func, select

from api_support import ApiServer, run_vault
from conftest import write_config
from vault.batch.sealer import seal_pending
from vault.evidence.canonical import canonical
from vault.index.models import Item
from vault.verify.bundle import verify_bundle

Key = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
SMALL = b"session log: technician connected, fixed the printer\n" * 20
BIG = bytes(range(256)) * (9 * 1024 * 1024 // 256)  # past the test multipart threshold (8 MiB)


# -- a small signer, as a client would be (helper C writes the real one) --------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def now_stamp(delta: dt.timedelta = dt.timedelta()) -> str:
    return (dt.datetime.now(dt.UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def statement(device: str, payload: bytes, **over: Any) -> dict[str, Any]:
    doc = {
        "type": "vault-client-statement/1",
        "tenant": "acme",
        "session": "S-1",
        "kind": "session_log",
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size": len(payload),
        "created": now_stamp(),
        "idempotency_key": None,
        "device": device,
    }
    doc.update(over)
    return doc


def sign(key: Key, doc: dict[str, Any]) -> str:
    data = canonical(doc)
    sig = key.sign(data) if isinstance(key, ed25519.Ed25519PrivateKey) else key.sign(data, ec.ECDSA(hashes.SHA256()))
    return f"{b64url(data)}.{b64url(sig)}"


def public_pem(key: Key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def register(c: httpx.Client, key: Key, label: str = "laptop") -> dict[str, Any]:
    r = c.post("/v1/devices", json={"public_key": public_pem(key), "label": label})
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def deposit(
    c: httpx.Client, payload: bytes, signature: str | None, *, kind: str = "session_log", key: str | None = None
) -> httpx.Response:
    headers = {}
    if signature is not None:
        headers["Vault-Signature"] = signature
    if key is not None:
        headers["Idempotency-Key"] = key
    return c.post(
        "/v1/evidence", data={"session": "S-1", "kind": kind}, files={"file": ("f.bin", payload)}, headers=headers
    )


def _counts(api: ApiServer) -> tuple[int, int]:
    """(item rows, object versions under the tenant): what a refusal must leave unchanged."""
    with api.ctx.sessions() as s:
        items = int(s.scalar(select(func.count()).select_from(Item)) or 0)
    r = api.ctx.store.client.list_object_versions(Bucket=api.ctx.store.bucket, Prefix="t/")
    uploads = api.ctx.store.client.list_multipart_uploads(Bucket=api.ctx.store.bucket).get("Uploads", [])
    return items, len(r.get("Versions", [])) + len(uploads)


@pytest.fixture
def tech(api_server: ApiServer) -> str:
    return api_server.key("technician")


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
def test_register_and_deposit_signed(api_server: ApiServer, tech: str, algorithm: str) -> None:
    key: Key = (
        ed25519.Ed25519PrivateKey.generate() if algorithm == "ed25519" else ec.generate_private_key(ec.SECP256R1())
    )
    with api_server.client(tech) as c:
        dev = register(c, key)
        assert dev["algorithm"] == algorithm and dev["id"].startswith("dv_") and dev["api_key"] == tech.split("_")[1]
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert dev["fingerprint"] == hashlib.sha256(spki).hexdigest()
        r = deposit(c, SMALL, sign(key, statement(dev["id"], SMALL, idempotency_key="k1")), key="k1")
        assert r.status_code == 201, r.text
        ev = json.loads(base64.b64decode(r.json()["receipt"]["evidence"]))
        cs = ev["client_signature"]
        assert cs["device"] == dev["id"] and cs["fingerprint"] == dev["fingerprint"] and "sealed" in cs
        assert "statement" not in cs and hashlib.sha256(SMALL).hexdigest() not in json.dumps(ev)  # erasable: sealed
        listed = c.get("/v1/devices").json()["devices"]
        assert [d["id"] for d in listed] == [dev["id"]] and listed[0]["active"]


def test_a_transaction_proof_keeps_its_statement_in_clear(api_server: ApiServer, tech: str) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    with api_server.client(tech) as c:
        dev = register(c, key)
        sig = sign(key, statement(dev["id"], SMALL, kind="transaction_proof"))
        r = deposit(c, SMALL, sig, kind="transaction_proof")
        assert r.status_code == 201, r.text
        cs = json.loads(base64.b64decode(r.json()["receipt"]["evidence"]))["client_signature"]
        assert base64.b64decode(cs["statement"]) == base64.urlsafe_b64decode(sig.split(".")[0] + "==")


@pytest.mark.parametrize("payload", [SMALL, BIG], ids=["single-put", "multipart"])
def test_every_bad_signature_is_refused_naming_why_and_nothing_is_kept(
    api_server: ApiServer, tech: str, payload: bytes
) -> None:
    key, other = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    tech2 = api_server.key("technician")
    with api_server.client(tech) as c, api_server.client(tech2) as c2:
        dev = register(c, key)
        dev2 = register(c2, other)
        revoked_key = ed25519.Ed25519PrivateKey.generate()
        revoked = register(c, revoked_key)
        assert c.delete(f"/v1/devices/{revoked['id']}").status_code == 200
        good = statement(dev["id"], payload)
        forged = sign(other, good)  # signed by a key that is not the device's
        s, sig = sign(key, good).split(".")
        cases: list[tuple[str, int, str, str]] = [
            ("forged", 422, "signature_invalid", forged),
            ("another file", 422, "signature_invalid", sign(key, statement(dev["id"], payload + b"!"))),
            ("another size", 422, "signature_invalid", sign(key, statement(dev["id"], payload, size=len(payload) + 1))),
            ("another session", 422, "signature_invalid", sign(key, statement(dev["id"], payload, session="S-9"))),
            ("another kind", 422, "signature_invalid", sign(key, statement(dev["id"], payload, kind="request"))),
            ("another tenant", 422, "signature_invalid", sign(key, statement(dev["id"], payload, tenant="beta"))),
            ("another idempotency key", 422, "signature_invalid",
             sign(key, statement(dev["id"], payload, idempotency_key="zz"))),
            ("expired", 422, "signature_invalid",
             sign(key, statement(dev["id"], payload, created=now_stamp(-dt.timedelta(hours=25))))),
            ("future", 422, "signature_invalid",
             sign(key, statement(dev["id"], payload, created=now_stamp(dt.timedelta(hours=25))))),
            ("unknown device", 422, "signature_invalid",
             sign(key, statement("dv_" + "0" * 26, payload))),
            ("another API key's device", 422, "signature_invalid", sign(other, statement(dev2["id"], payload))),
            ("revoked", 403, "device_revoked", sign(revoked_key, statement(revoked["id"], payload))),
            ("malformed: no dot", 422, "signature_invalid", s + sig),
            ("malformed: padding", 422, "signature_invalid", s + "==." + sig),
            ("malformed: not JSON", 422, "signature_invalid", b64url(b"hello") + "." + sig),
            ("malformed: not canonical", 422, "signature_invalid",
             b64url(json.dumps(good).encode()) + "." + sig),
            ("malformed: extra field", 422, "signature_invalid", sign(key, {**good, "x": 1})),
        ]  # fmt: skip
        before = _counts(api_server)
        for why, status, code, wire in cases:
            r = deposit(c, payload, wire)
            assert r.status_code == status, f"{why}: {r.status_code} {r.text}"
            assert r.json()["type"] == f"/problems/{code}", why
            assert r.json()["detail"], why
            assert _counts(api_server) == before, f"{why}: something was kept"
        assert deposit(c, payload, sign(key, statement(dev["id"], payload))).status_code == 201


def test_required_signatures_and_the_setting(api_server: ApiServer, tech: str) -> None:
    admin, auditor = api_server.key("org_admin"), api_server.key("auditor")
    key = ed25519.Ed25519PrivateKey.generate()
    with api_server.client(tech) as c, api_server.client(admin) as a:
        dev = register(c, key)
        assert a.get("/v1/tenants/acme/settings").json() == {"tenant": "acme", "require_signatures": False}
        assert deposit(c, SMALL, None).status_code == 201  # off by default: plain clients work
        with api_server.client(auditor) as u:
            assert u.put("/v1/tenants/acme/settings", json={"require_signatures": True}).status_code == 403
        assert c.put("/v1/tenants/acme/settings", json={"require_signatures": True}).status_code == 403
        r = a.put("/v1/tenants/acme/settings", json={"require_signatures": True})
        assert r.status_code == 200 and r.json()["require_signatures"] is True
        before = _counts(api_server)
        for payload in (SMALL, BIG):
            r = deposit(c, payload, None)
            assert r.status_code == 422 and r.json()["type"] == "/problems/signature_required", r.text
        recs = deposit(c, b'{"ip": "192.0.2.1"}', None, kind="connection_metadata")
        assert recs.status_code == 422 and recs.json()["type"] == "/problems/signature_required"
        assert _counts(api_server) == before
        assert deposit(c, SMALL, sign(key, statement(dev["id"], SMALL))).status_code == 201
        body = b'{"ip": "192.0.2.1", "port": 443}'
        r = deposit(
            c, body, sign(key, statement(dev["id"], body, kind="connection_metadata")), kind="connection_metadata"
        )
        assert r.status_code == 201, r.text
        assert a.put("/v1/tenants/acme/settings", json={"require_signatures": False}).status_code == 200


def test_revoking_the_api_key_revokes_its_devices(api_server: ApiServer) -> None:
    tech = api_server.key("technician")
    admin = api_server.key("org_admin")
    key = ed25519.Ed25519PrivateKey.generate()
    with api_server.client(tech) as c:
        dev = register(c, key)
    with api_server.client(admin) as a:
        assert a.post(f"/v1/keys/{tech.split('_')[1]}/revoke").status_code == 200
        [listed] = [d for d in a.get("/v1/devices").json()["devices"] if d["id"] == dev["id"]]
        assert listed["active"] is False and "API key" in listed["revoked_because"]
    from vault.access.principal import Principal, Role
    from vault.errors import DeviceRevoked
    from vault.service import deposit as deposits

    who = Principal(f"key:{dev['api_key']}", Role.TECHNICIAN, tenant="acme", key_id=dev["api_key"])
    with pytest.raises(DeviceRevoked):
        deposits.deposit_file(
            api_server.ctx, who, io.BytesIO(SMALL), tenant="acme", session="S-1", kind="session_log",
            client_signature=sign(key, statement(dev["id"], SMALL)),
        )  # fmt: skip


def test_device_revocation_rights(api_server: ApiServer) -> None:
    tech, tech2, admin = api_server.key("technician"), api_server.key("technician"), api_server.key("org_admin")
    beta_admin = api_server.key("org_admin", tenant="beta")
    with api_server.client(tech) as c, api_server.client(tech2) as c2:
        dev = register(c, ed25519.Ed25519PrivateKey.generate())
        assert c2.delete(f"/v1/devices/{dev['id']}").status_code == 404  # another technician's
        assert c2.get("/v1/devices").json()["devices"] == []
    with api_server.client(beta_admin) as b:
        assert b.delete(f"/v1/devices/{dev['id']}").status_code == 404  # another tenant's
    with api_server.client(admin) as a:
        r = a.delete(f"/v1/devices/{dev['id']}")
        assert r.status_code == 200 and r.json()["active"] is False
    with api_server.client(tech) as c:
        bad = c.post("/v1/devices", json={"public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"})
        assert bad.status_code == 422
        rsa_pem = (
            __import__("cryptography.hazmat.primitives.asymmetric.rsa", fromlist=["rsa"])
            .generate_private_key(65537, 2048)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        r = c.post("/v1/devices", json={"public_key": rsa_pem})
        assert r.status_code == 422 and "Ed25519 or ECDSA P-256" in r.json()["detail"]


def _proof(api: ApiServer, c: httpx.Client, item: str, out: Path) -> Path:
    seal_pending(api.ctx)
    r = c.get(f"/v1/evidence/{item}/proof")
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        z.extractall(out)
    return out / item


def _openssl(folder: Path, algorithm: str) -> subprocess.CompletedProcess[str]:
    cmd = (
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "device.pem", "-rawin", "-in", "client-statement.json",
         "-sigfile", "client-statement.sig"]
        if algorithm == "ed25519"
        else ["openssl", "dgst", "-sha256", "-verify", "device.pem", "-signature", "client-statement.sig",
              "client-statement.json"]
    )  # fmt: skip
    return subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
@pytest.mark.parametrize("kind", ["session_log", "transaction_proof"])
def test_verify_online_offline_and_with_openssl(
    api_server: ApiServer, tech: str, tmp_path: Path, algorithm: str, kind: str
) -> None:
    assert shutil.which("openssl")
    key: Key = (
        ed25519.Ed25519PrivateKey.generate() if algorithm == "ed25519" else ec.generate_private_key(ec.SECP256R1())
    )
    with api_server.client(tech) as c:
        dev = register(c, key)
        r = deposit(c, SMALL, sign(key, statement(dev["id"], SMALL, kind=kind)), kind=kind)
        assert r.status_code == 201, r.text
        item = r.json()["id"]
        folder = _proof(api_server, c, item, tmp_path)
        v = c.post("/v1/verify", json={"evidence_id": item}).json()
        [check] = [x for x in v["checks"] if x["name"] == "client_signature"]
        assert check["ok"] and dev["id"] in check["detail"], v
        assert v["valid"], v
    # the VERIFY.md commands, run as written
    md = (folder / "VERIFY.md").read_text()
    assert "client_signature" in md and dev["fingerprint"] in md
    assert ("openssl pkeyutl -verify" if algorithm == "ed25519" else "openssl dgst -sha256 -verify") in md
    ok = _openssl(folder, algorithm)
    assert ok.returncode == 0 and "Verified" in ok.stdout + ok.stderr, ok.stdout + ok.stderr
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", "device.pem", "-outform", "DER"],
        cwd=folder,
        capture_output=True,
        check=True,
    ).stdout
    fp = hashlib.sha256(der).hexdigest()
    assert dev["fingerprint"] in fp
    st = json.loads((folder / "client-statement.json").read_bytes())
    assert st["sha256"] == hashlib.sha256((folder / "payload").read_bytes()).hexdigest()
    report = verify_bundle(folder)
    assert report.valid and any(ch.name == "client_signature" and ch.ok for ch in report.checks), report.as_json()
    # a tampered statement: openssl and the bundle check both refuse it
    tampered = canonical({**st, "session": "S-2"})
    (folder / "client-statement.json").write_bytes(tampered)
    bad = _openssl(folder, algorithm)
    assert bad.returncode != 0, bad.stdout
    report = verify_bundle(folder)
    failed = [ch for ch in report.checks if not ch.ok]
    assert [ch.name for ch in failed] == ["client_signature"], report.as_json()
    # and the CLI's offline verification says the same
    write_config(api_server.settings)
    cli = run_vault(api_server.settings.home, "verify", "--bundle", str(folder), "--json", check=False)
    assert cli.returncode == 1 and "client_signature" in cli.stdout


def test_cli_sets_the_tenant_setting(api_server: ApiServer) -> None:
    api_server.key("technician")  # creates tenant acme
    write_config(api_server.settings)
    home = api_server.settings.home
    r = run_vault(home, "tenant", "settings", "acme", "--require-signatures", "--json")
    assert json.loads(r.stdout)["require_signatures"] is True
    r = run_vault(home, "tenant", "settings", "acme")
    assert "required" in r.stdout and "not required" not in r.stdout
    run_vault(home, "tenant", "settings", "acme", "--no-require-signatures")
    assert "not required" in run_vault(home, "tenant", "settings", "acme").stdout
