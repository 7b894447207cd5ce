"""Every role x every endpoint, as the permission table says: allowed -> 2xx, another tenant's
thing -> 404, not allowed -> 403 (or 404 where a refusal would confirm that a thing exists);
no key -> 401; expired, revoked, forged and malformed keys -> 401."""

from __future__ import annotations

import datetime as dt
import io
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api_support import ApiServer
from vault.access.permissions import TABLE, Op
from vault.access.principal import SYSTEM, Role
from vault.batch.sealer import seal_pending
from vault.service import keys

ROLES = [r.value for r in Role]
DOC = b"intervention report, signed\n" * 40


@dataclass
class World:
    """Tenant acme (with a sealed item deposited by its technician) and tenant beta."""

    api: ApiServer
    keys: dict[tuple[str, str], str]  # (tenant, role) -> key; operator under ("*", "operator")
    item: str
    proof_zip: bytes

    def key(self, tenant: str, role: str) -> str:
        return self.keys[("*", "operator")] if role == "operator" else self.keys[(tenant, role)]


@pytest.fixture
def world(api_server: ApiServer) -> World:
    ks: dict[tuple[str, str], str] = {("*", "operator"): api_server.key("operator", tenant=None)}
    for tenant in ("acme", "beta"):
        for role in ROLES:
            if role != "operator":
                ks[(tenant, role)] = api_server.key(role, tenant=tenant)
    with api_server.client(ks[("acme", "technician")]) as c:
        r = c.post(
            "/v1/evidence",
            data={"session": "S-1", "kind": "signed_document", "subject": "erin", "metadata": '{"ip": "192.0.2.1"}'},
            files={"file": ("report.pdf", DOC)},
        )
        assert r.status_code == 201, r.text
        item = r.json()["id"]
        seal_pending(api_server.ctx)
        proof = c.get(f"/v1/evidence/{item}/proof")
        assert proof.status_code == 200, proof.text
    return World(api_server, ks, item, proof.content)


@dataclass(frozen=True)
class Endpoint:
    op: Op
    method: str
    path: str  # {item} and {tenant} are filled in
    ok: tuple[int, ...] = (200,)
    body: Callable[[World, str], dict[str, Any]] | None = None  # (world, tenant) -> httpx kwargs
    tenant_scoped: bool = True  # does another tenant's key get 404 on acme's thing?


def _deposit(w: World, tenant: str) -> dict[str, Any]:
    return {"data": {"session": "S-2", "kind": "session_log"}, "files": {"file": ("log.txt", b"a log line\n")}}


_n = iter(range(10**6))

ENDPOINTS = [
    Endpoint(Op.DEPOSIT, "POST", "/v1/evidence?t={tenant}", (201,), lambda w, t: {
        "data": {"session": "S-2", "kind": "session_log", "tenant": t}, "files": {"file": ("l.txt", b"line\n")}}),
    Endpoint(Op.ITEM_READ, "GET", "/v1/evidence/{item}"),
    Endpoint(Op.ITEM_CONTENT, "GET", "/v1/evidence/{item}/content"),
    Endpoint(Op.ITEM_PROOF, "GET", "/v1/evidence/{item}/proof"),
    Endpoint(Op.VERIFY, "POST", "/v1/verify", body=lambda w, t: {"json": {"evidence_id": w.item}}),
    Endpoint(Op.VERIFY_FILE, "POST", "/v1/verify", body=lambda w, t: {"files": {"file": ("d.pdf", DOC)}},
             tenant_scoped=False),
    Endpoint(Op.VERIFY_BUNDLE, "POST", "/v1/verify", body=lambda w, t: {"files": {"bundle": ("p.zip", w.proof_zip)}},
             tenant_scoped=False),
    Endpoint(Op.CERTIFICATES, "GET", "/v1/certificates", tenant_scoped=False),
    Endpoint(Op.BATCH_READ, "GET", "/v1/batches/1", tenant_scoped=False),
    Endpoint(Op.TENANT_LIST, "GET", "/v1/tenants", tenant_scoped=False),
    Endpoint(Op.TENANT_CREATE, "POST", "/v1/tenants", (201,),
             lambda w, t: {"json": {"tenant": f"new-{next(_n)}", "proof_years": 20}}, tenant_scoped=False),
    Endpoint(Op.TENANT_SHOW, "GET", "/v1/tenants/{tenant}"),
    Endpoint(Op.TENANT_END_SERVICE, "POST", "/v1/tenants/{tenant}/end-of-service",
             body=lambda w, t: {"json": {"date": "2025-01-31"}}),
    Endpoint(Op.TENANT_PROOF_YEARS, "POST", "/v1/tenants/{tenant}/proof-years", body=lambda w, t: {"json": {"years": 15}}),
    Endpoint(Op.HOLD_ADD, "POST", "/v1/holds", (201,), lambda w, t: {"json": {"tenant": t, "case": "RG-1", "session": "S-9"}}),
    Endpoint(Op.HOLD_RELEASE, "POST", "/v1/holds/release", body=lambda w, t: {"json": {"tenant": t, "case": "RG-0", "session": "S-9"}},
             ok=(200, 404)),  # 404: no such active hold (the release of a hold nobody placed)
    Endpoint(Op.HOLD_LIST, "GET", "/v1/holds?tenant={tenant}"),
    Endpoint(Op.RETENTION_POLICY, "GET", "/v1/retention/policy", tenant_scoped=False),
    Endpoint(Op.RETENTION_PLAN, "GET", "/v1/retention/plan?tenant={tenant}"),
    Endpoint(Op.RETENTION_APPLY, "POST", "/v1/retention/apply?tenant={tenant}"),
    Endpoint(Op.RETENTION_ARCHIVE, "POST", "/v1/retention/archive", body=lambda w, t: {"json": {"tenant": t}}),
    Endpoint(Op.SUBJECT_ACCESS, "GET", "/v1/subjects/erin/access?tenant={tenant}"),
    Endpoint(Op.SUBJECT_RECTIFY, "POST", "/v1/subjects/erin/rectify?tenant={tenant}",
             body=lambda w, t: {"json": {"item": w.item, "field": "ip", "value": "192.0.2.9"}}),
    Endpoint(Op.SUBJECT_ERASE, "POST", "/v1/subjects/nobody-{n}/erase?tenant={tenant}"),
    Endpoint(Op.SUBJECT_RESTRICT, "POST", "/v1/subjects/zoe/restrict?tenant={tenant}", body=lambda w, t: {"json": {"lift": False}}),
    Endpoint(Op.SUBJECT_OBJECT, "POST", "/v1/subjects/zoe/object?tenant={tenant}",
             body=lambda w, t: {"json": {"purpose": "service_improvement"}}),
    Endpoint(Op.JOURNAL_LIST, "GET", "/v1/journal?tenant={tenant}"),
    Endpoint(Op.JOURNAL_VERIFY, "POST", "/v1/journal/verify", tenant_scoped=False),
    Endpoint(Op.KEY_LIST, "GET", "/v1/keys?tenant={tenant}"),
    Endpoint(Op.KEY_CREATE, "POST", "/v1/keys", (201,), lambda w, t: {"json": {"role": "technician", "tenant": t}}),
    Endpoint(Op.KEY_REVOKE, "POST", "/v1/keys/{victim}/revoke"),
    Endpoint(Op.SEAL, "POST", "/v1/seal", tenant_scoped=False),
    Endpoint(Op.AUDIT, "POST", "/v1/audit?tenant={tenant}"),
    Endpoint(Op.RECOVER, "POST", "/v1/recover", tenant_scoped=False),
    Endpoint(Op.DEVICE_REGISTER, "POST", "/v1/devices", (201,), lambda w, t: {"json": {"public_key": _device_pem()}},
             tenant_scoped=False),
    Endpoint(Op.DEVICE_LIST, "GET", "/v1/devices?tenant={tenant}"),
    Endpoint(Op.DEVICE_REVOKE, "DELETE", "/v1/devices/{device}"),
    Endpoint(Op.EXPORT, "POST", "/v1/exports", (202,), lambda w, t: {"json": {"tenant": t, "case": "RG-1", "items": [w.item]}}),
    Endpoint(Op.CHECKPOINT, "GET", "/v1/checkpoint", tenant_scoped=False),
    Endpoint(Op.TENANT_SETTINGS, "PUT", "/v1/tenants/{tenant}/settings",
             body=lambda w, t: {"json": {"require_signatures": False}}),
]  # fmt: skip


def _device_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _device(w: World) -> str:
    """A fresh device of acme's technician (the key the table's technician calls use)."""
    from vault.access.principal import Principal
    from vault.service import devices

    key_id = w.keys[("acme", "technician")].split("_")[1]
    who = Principal(f"key:{key_id}", Role.TECHNICIAN, tenant="acme", key_id=key_id)
    return str(devices.register(w.api.ctx, who, _device_pem()).as_json()["id"])


def test_the_table_covers_every_operation() -> None:
    host_only = {Op.INDEX_REBUILD, Op.KEK_ROTATE, Op.RENEW}  # no endpoint: the host operator's CLI only
    assert {e.op for e in ENDPOINTS} == set(Op) - host_only, "every operation has an endpoint in this test"
    assert set(TABLE) == set(Op)


def _call(w: World, e: Endpoint, key: str | None, tenant: str) -> httpx.Response:
    device = _device(w) if "{device}" in e.path else ""
    path = e.path.format(item=w.item, tenant=tenant, n=next(_n), victim=_victim(w, tenant), device=device)
    kw = e.body(w, tenant) if e.body else {}
    with w.api.client(key) as c:
        return c.request(e.method, path, **kw)


def _victim(w: World, tenant: str) -> str:
    """A fresh key of ``tenant`` to revoke."""
    doc = keys.create(w.api.ctx, SYSTEM, tenant=tenant, role="technician").as_json()
    return str(doc["id"])


def _expected_refusal(e: Endpoint) -> int:
    return 404 if TABLE[e.op].hide else 403


def test_every_role_on_every_endpoint(world: World, subtests: Any) -> None:
    for e in ENDPOINTS:
        rule = TABLE[e.op]
        for role in ROLES:
            with subtests.test(op=e.op.value, role=role):
                r = _call(world, e, world.key("acme", role), "acme")
                if role in rule.roles or rule.public:
                    assert r.status_code in e.ok, f"{role} {e.method} {e.path}: {r.status_code} {r.text[:300]}"
                else:
                    assert r.status_code == _expected_refusal(e), f"{role} {e.path}: {r.status_code} {r.text[:200]}"
                    assert r.headers["content-type"] == "application/problem+json"
                    assert r.json()["status"] == r.status_code
        if e.tenant_scoped:
            # a key of another tenant, in a role that may do this on its own tenant: "not found"
            for role in sorted(rule.roles - {Role.OPERATOR}):
                with subtests.test(op=e.op.value, role=role.value, tenant="beta"):
                    r = _call(world, e, world.key("beta", role.value), "acme")
                    assert r.status_code == 404, f"beta {role} {e.path}: {r.status_code} {r.text[:200]}"
        if not rule.public:
            with subtests.test(op=e.op.value, key=None):
                r = _call(world, e, None, "acme")
                assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


def test_a_technician_reads_back_only_its_own_recent_deposits(world: World) -> None:
    other_tech = world.api.key("technician")
    with world.api.client(other_tech) as c:
        assert c.get(f"/v1/evidence/{world.item}").status_code == 404  # same tenant, not its deposit
    own = world.key("acme", "technician")
    with world.api.client(own) as c:
        assert c.get(f"/v1/evidence/{world.item}").status_code == 200
    from vault.clock import FixedClock

    world.api.ctx.clock = FixedClock(dt.datetime.now(dt.UTC) + dt.timedelta(hours=25))
    try:
        with world.api.client(own) as c:
            r = c.get(f"/v1/evidence/{world.item}")
            assert r.status_code == 404, r.text
    finally:
        from vault.clock import clock_from_env

        world.api.ctx.clock = clock_from_env()


def test_expired_revoked_forged_and_malformed_keys_are_refused(world: World) -> None:
    api = world.api
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    expiring = api.key("auditor", expires_at=soon)
    with api.client(expiring) as c:
        assert c.get("/v1/batches/1").status_code == 200
    time.sleep(max(0.0, (soon - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
    with api.client(expiring) as c:
        r = c.get("/v1/batches/1")
        assert r.status_code == 401 and r.json()["type"] == "/problems/unauthenticated"

    victim = api.key("auditor")
    key_id = victim.split("_")[1]
    with api.client(world.key("acme", "org_admin")) as c:
        assert c.post(f"/v1/keys/{key_id}/revoke").status_code == 200
    with api.client(victim) as c:
        assert c.get("/v1/batches/1").status_code == 401

    good = world.key("acme", "auditor")
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")  # right id, wrong secret
    for bad in (forged, "vk_0000000000000000_" + "A" * 43, "not-a-key", "vk_" + "x" * 500, good + "x"):
        with api.client(bad) as c:
            r = c.get("/v1/batches/1")
            assert r.status_code == 401, bad
            assert r.json()["detail"] == "invalid API key: unknown, malformed, expired or revoked"
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer  x", good):
        with httpx.Client(base_url=api.url, headers={"Authorization": header}) as c:
            assert c.get("/v1/batches/1").status_code == 401, header


def test_an_expired_key_cannot_be_created_and_keys_are_scoped(world: World) -> None:
    admin = world.key("acme", "org_admin")
    with world.api.client(admin) as c:
        r = c.post("/v1/keys", json={"role": "technician", "expires_at": "2020-01-01T00:00:00Z"})
        assert r.status_code == 422 and "already past" in r.json()["detail"]
        r = c.post("/v1/keys", json={"role": "legal"})  # an org admin grants technician, auditor, org_admin only
        assert r.status_code == 403
        r = c.post("/v1/keys", json={"role": "technician", "tenant": "beta"})
        assert r.status_code == 404
        listed = c.get("/v1/keys").json()["keys"]
        assert listed and {k["tenant"] for k in listed} == {"acme"}
        assert all("key" not in k and "key_sha256" not in k for k in listed)
        beta_key = world.key("beta", "auditor")
        beta_id = beta_key.split("_")[1]
        assert c.post(f"/v1/keys/{beta_id}/revoke").status_code == 404  # another tenant's key
    with world.api.client(beta_key) as c:
        assert c.get("/v1/batches/1").status_code == 200  # still valid


def test_proof_zip_verifies_without_a_key_and_a_tampered_one_names_its_check(world: World) -> None:
    with world.api.client() as c:
        r = c.post("/v1/verify", files={"bundle": ("p.zip", world.proof_zip)})
        assert r.status_code == 200 and r.json()["valid"] is True, r.text
        assert {c["name"] for c in r.json()["checks"]} >= {"payload_digest", "seal", "timestamp", "vault_batch"}
        tampered = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(world.proof_zip)) as src, zipfile.ZipFile(tampered, "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename.endswith("/payload"):
                    data = data[:-1] + bytes([data[-1] ^ 1])
                dst.writestr(info, data)
        r = c.post("/v1/verify", files={"bundle": ("p.zip", tampered.getvalue())})
        assert r.status_code == 200 and r.json()["valid"] is False
        assert [x["name"] for x in r.json()["checks"] if not x["ok"]] == ["payload_digest"]
        for junk in (b"not a zip", b"PK\x03\x04" + b"\x00" * 40):
            r = c.post("/v1/verify", files={"bundle": ("p.zip", junk)})
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        evil = io.BytesIO()
        with zipfile.ZipFile(evil, "w") as z:
            z.writestr("../../etc/evil", b"x")
        r = c.post("/v1/verify", files={"bundle": ("p.zip", evil.getvalue())})
        assert r.status_code == 422 and "unsafe path" in r.json()["title"] + r.json()["detail"]
