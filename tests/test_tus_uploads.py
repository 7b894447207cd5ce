"""Resumable uploads over tus 1.0 at /v1/uploads, against the real API (uvicorn, SeaweedFS, TSA,
the test's database), with the tuspy client and raw httpx: the protocol, resuming after a client
killed half way (nothing re-sent), checksums, offsets, locks, the staging encrypted and removed,
tenants and roles, and the completed upload as an item that verifies."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from tusclient.client import TusClient
from tusclient.uploader import Uploader

from api_support import ApiServer
from vault.access.principal import SYSTEM
from vault.batch.sealer import seal_pending
from vault.index.models import Item
from vault.service import items
from vault.uploads.staging import Staging

TUS = {"Tus-Resumable": "1.0.0"}
MiB = 1024 * 1024


class Sha256Uploader(Uploader):
    """tuspy with ``Upload-Checksum: sha256`` (its default is sha1)."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


def meta(**fields: str) -> str:
    return ", ".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


def payload(size: int, marker: bytes = b"PLAINTEXT-MARKER") -> bytes:
    """Recognisable bytes (a marker every 64 bytes) that do not compress away."""
    block = (marker + os.urandom(48))[:64]
    return (block * (size // 64 + 1))[:size]


def items_count(api: ApiServer) -> int:
    with api.ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Item)) or 0)


def objects(api: ApiServer) -> list[str]:
    r = api.ctx.store.client.list_object_versions(Bucket=api.ctx.store.bucket, Prefix="t/")
    return [v["Key"] for v in r.get("Versions", [])]


def uploads_dir(api: ApiServer) -> Path:
    return api.settings.home / "uploads"


def staged_bytes(api: ApiServer) -> bytes:
    root = uploads_dir(api)
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()) if root.exists() else b""


def create(c: httpx.Client, length: int, **fields: str) -> str:
    fields = {"session": "S-tus", "kind": "session_recording", **fields}
    r = c.post("/v1/uploads", headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": meta(**fields)})
    assert r.status_code == 201, r.text
    assert r.headers["tus-resumable"] == "1.0.0" and "upload-expires" in r.headers
    return r.headers["location"]


def patch(c: httpx.Client, url: str, offset: int, body: bytes, **headers: str) -> httpx.Response:
    h = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream", **headers}
    return c.patch(url, content=body, headers=h)


def checksum(body: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(body).digest()).decode()


@pytest.fixture
def tech(api_server: ApiServer) -> Iterator[httpx.Client]:
    with api_server.client(api_server.key("technician")) as c:
        yield c


def test_discovery_and_a_tuspy_upload_becomes_an_item_that_verifies(
    api_server: ApiServer, tech: httpx.Client, tmp_path: Path
) -> None:
    r = httpx.options(api_server.url + "/v1/uploads")  # discovery needs no key
    assert r.status_code == 204
    assert r.headers["tus-version"] == "1.0.0"
    assert set(r.headers["tus-extension"].split(",")) == {"creation", "termination", "checksum", "expiration"}
    assert "sha256" in r.headers["tus-checksum-algorithm"].split(",")
    assert int(r.headers["tus-max-size"]) == 64 * 1024**3

    data = payload(3 * MiB + 123)
    f = tmp_path / "rec.bin"
    f.write_bytes(data)
    client = TusClient(api_server.url + "/v1/uploads", headers={"Authorization": tech.headers["authorization"]})
    up = Sha256Uploader(
        file_path=str(f),
        client=client,
        chunk_size=MiB,
        upload_checksum=True,
        metadata={
            "session": "S-tus",
            "kind": "session_recording",
            "subject": "erin",
            "filename": "rec.bin",
            "sha256": hashlib.sha256(data).hexdigest(),
            "meta": json.dumps({"ip": "192.0.2.7"}),
        },
    )
    up.upload()
    item = up.request.response_headers["evidence-id"]
    receipt = json.loads(base64.urlsafe_b64decode(up.request.response_headers["evidence-receipt"] + "=="))
    assert receipt["item"] == item
    # the item: its content, its fields, and it verifies once sealed
    assert tech.get(f"/v1/evidence/{item}/content").content == data
    assert tech.get(f"/v1/evidence/{item}").json()["fields"] == {"ip": "192.0.2.7", "subject": "erin"}
    seal_pending(api_server.ctx)
    report = items.verify(api_server.ctx, SYSTEM, item)
    assert report.valid, report
    r = tech.post("/v1/verify", json={"evidence_id": item})
    assert r.status_code == 200 and r.json()["status"] == "valid", r.text
    # the staging is gone: a tombstone answers HEAD with the item, nothing else is left
    url = up.url
    upload_id = url.rsplit("/", 1)[1]
    assert [p.name for p in (uploads_dir(api_server) / upload_id).iterdir() if p.name != "lock"] == ["state.json"]
    assert b"erin" not in staged_bytes(api_server) and b"192.0.2.7" not in staged_bytes(api_server)
    h = tech.head(url, headers=TUS)
    assert h.status_code == 200 and h.headers["evidence-id"] == item
    assert h.headers["upload-offset"] == h.headers["upload-length"] == str(len(data))
    # a repeated completing PATCH (its answer lost) names the same item; nothing new
    again = patch(tech, url, len(data), b"")
    assert again.status_code == 204 and again.headers["evidence-id"] == item
    assert items_count(api_server) == 1
    # DELETE of the tombstone removes it; the item stays
    assert tech.delete(url, headers=TUS).status_code == 204
    assert not (uploads_dir(api_server) / upload_id).exists()
    assert tech.get(f"/v1/evidence/{item}").status_code == 200


def _killed_client(url: str, key: str, path: Path, chunk: int) -> subprocess.Popen[str]:
    """A tuspy upload in its own process (killed later): prints its upload URL, then uploads."""
    code = f"""
import sys
from tusclient.client import TusClient
c = TusClient({url!r}, headers={{"Authorization": "Bearer {key}"}})
u = c.uploader({str(path)!r}, chunk_size={chunk}, metadata={{"session": "S-big", "kind": "session_recording"}})
u.set_url(u.create_url())
print(u.url, flush=True)
u.upload()
"""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_a_client_killed_half_way_resumes_where_the_server_says_and_nothing_is_sent_twice(
    api_server: ApiServer, tmp_path: Path
) -> None:
    """The suite's size (64 MiB); the 1 GiB run is bench/tus_resume.py (docs/performance.md)."""
    size = 64 * MiB
    key = api_server.key("technician")
    data = payload(size)
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    proc = _killed_client(api_server.url + "/v1/uploads", key, f, 8 * MiB)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    with api_server.client(key) as c:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill it at half way, in the middle of a PATCH
            h = c.head(url, headers=TUS)
            if int(h.headers["upload-offset"]) >= size // 2:
                break
            time.sleep(0.01)
        time.sleep(0.05)
        proc.kill()
        proc.wait()
        time.sleep(0.5)  # the server finishes with the broken PATCH
        h = c.head(url, headers=TUS)
        held = int(h.headers["upload-offset"])
        assert size // 2 <= held < size, held
        assert int(h.headers["vault-upload-received"]) == held  # every byte read was kept
        # a new client (as after a restart) asks the server where to resume, and completes
        client = TusClient(api_server.url + "/v1/uploads", headers={"Authorization": f"Bearer {key}"})
        up = Uploader(file_path=str(f), client=client, url=url, chunk_size=8 * MiB)
        assert up.offset == held
        up.upload()
        item = up.request.response_headers["evidence-id"]
        h = c.head(url, headers=TUS)
        # the server read each byte of the file once: nothing that had arrived was sent again
        assert int(h.headers["vault-upload-received"]) == size
        assert int(h.headers["vault-upload-discarded"]) == 0
        metrics = c.get("/metrics").text
        [line] = [x for x in metrics.splitlines() if x.startswith("vault_upload_bytes_received_total ")]
        assert float(line.split()[1]) == size
        got = hashlib.sha256()
        with c.stream("GET", f"/v1/evidence/{item}/content") as r:
            for chunk in r.iter_bytes():
                got.update(chunk)
        assert got.digest() == hashlib.sha256(data).digest()
    seal_pending(api_server.ctx)
    assert items.verify(api_server.ctx, SYSTEM, item).valid


def test_checksums_offsets_versions_and_content_types_are_checked(api_server: ApiServer, tech: httpx.Client) -> None:
    data = payload(300_000)
    url = create(tech, len(data))
    first = data[:100_000]
    r = patch(tech, url, 0, first, **{"Upload-Checksum": checksum(first + b"x")})
    assert r.status_code == 460 and r.json()["type"] == "/problems/checksum-mismatch", r.text
    assert r.headers["tus-resumable"] == "1.0.0"
    h = tech.head(url, headers=TUS)
    assert h.headers["upload-offset"] == "0" and h.headers["vault-upload-discarded"] == "100000"
    r = patch(tech, url, 0, first, **{"Upload-Checksum": checksum(first)})
    assert r.status_code == 204 and r.headers["upload-offset"] == "100000"
    # offsets are strict: behind, ahead
    for wrong in (0, 150_000):
        r = patch(tech, url, wrong, data[wrong : wrong + 10])
        assert r.status_code == 409 and r.json()["type"] == "/problems/conflict", r.text
    # the protocol's version, the content type, malformed checksums
    r = tech.patch(
        url, content=b"x", headers={"Upload-Offset": "100000", "Content-Type": "application/offset+octet-stream"}
    )
    assert r.status_code == 412 and r.headers["tus-version"] == "1.0.0"
    r = tech.patch(url, content=b"x", headers={**TUS, "Upload-Offset": "100000", "Content-Type": "text/plain"})
    assert r.status_code == 415
    assert patch(tech, url, 100_000, b"x", **{"Upload-Checksum": "md5 AAAA"}).status_code == 422
    # more than Upload-Length: refused, nothing kept
    r = patch(tech, url, 100_000, data[100_000:] + b"extra")
    assert r.status_code == 413
    assert tech.head(url, headers=TUS).headers["upload-offset"] == "100000"
    r = patch(tech, url, 100_000, data[100_000:])
    assert r.status_code == 204 and r.headers["evidence-id"].startswith("ev_")
    assert tech.get(f"/v1/evidence/{r.headers['evidence-id']}/content").content == data
    # creation refusals
    bad = [
        {"Upload-Length": "10", "Upload-Metadata": meta(kind="session_log")},  # no session
        {"Upload-Length": "10", "Upload-Metadata": meta(session="S", kind="nope")},
        {"Upload-Length": "10", "Upload-Metadata": meta(session="S", kind="connection_metadata")},
        {"Upload-Length": "10", "Upload-Metadata": meta(session="S", kind="session_log", sha256="12")},
        {"Upload-Length": "10", "Upload-Metadata": "session !!!"},
        {"Upload-Length": "-1", "Upload-Metadata": meta(session="S", kind="session_log")},
        {"Upload-Defer-Length": "1", "Upload-Metadata": meta(session="S", kind="session_log")},
    ]
    for headers in bad:
        r = tech.post("/v1/uploads", headers={**TUS, **headers})
        assert r.status_code == 422, (headers, r.text)
    r = tech.post(
        "/v1/uploads",
        headers={
            **TUS,
            "Upload-Length": str(2 * 1024**3),
            "Upload-Metadata": meta(session="S", kind="signed_document"),
        },
    )
    assert r.status_code == 413, r.text


def test_a_declared_sha256_that_does_not_match_is_refused_and_nothing_is_kept(
    api_server: ApiServer, tech: httpx.Client
) -> None:
    data = payload(2 * MiB)
    url = create(tech, len(data), sha256=hashlib.sha256(b"something else").hexdigest())
    assert patch(tech, url, 0, data[:MiB]).status_code == 204
    r = patch(tech, url, MiB, data[MiB:])
    assert r.status_code == 422 and "not the one announced" in r.json()["detail"], r.text
    assert items_count(api_server) == 0 and objects(api_server) == []
    assert not (uploads_dir(api_server) / url.rsplit("/", 1)[1]).exists()  # resuming cannot fix it
    assert tech.head(url, headers=TUS).status_code == 404


def test_staged_bytes_are_encrypted_and_removed_on_abort_and_expiry(api_server: ApiServer, tech: httpx.Client) -> None:
    marker = b"SECRET-SESSION-BYTES"
    data = payload(3 * MiB, marker)
    url = create(tech, len(data), subject="mallory-the-subject")
    assert patch(tech, url, 0, data[: 2 * MiB + 5]).status_code == 204
    staged = staged_bytes(api_server)
    assert len(staged) > 2 * MiB  # the bytes are there...
    assert marker not in staged and data[:4096] not in staged  # ...but never in clear
    assert b"mallory" not in staged and b"S-tus" not in staged  # nor the metadata
    h = tech.head(url, headers=TUS)
    assert "upload-metadata" in h.headers and "subject" in h.headers["upload-metadata"]
    # abort
    r = tech.delete(url, headers=TUS)
    assert r.status_code == 204 and r.headers["tus-resumable"] == "1.0.0"
    assert staged_bytes(api_server) == b"" and tech.head(url, headers=TUS).status_code == 404
    assert patch(tech, url, 2 * MiB + 5, data[2 * MiB + 5 :]).status_code == 404
    # expiry: the sweep removes an expired upload; one found expired before is 410
    staging = Staging(uploads_dir(api_server), api_server.ctx.kek)
    url2 = create(tech, 10)
    url3 = create(tech, 10)
    assert patch(tech, url3, 0, b"01234").status_code == 204
    id2, id3 = url2.rsplit("/", 1)[1], url3.rsplit("/", 1)[1]
    st2, st3 = staging.load(id2), staging.load(id3)
    assert st2 is not None and st3 is not None
    assert st3.expires > st2.expires  # a PATCH pushes the expiry 24 h on
    st3.expires = "2000-01-01T00:00:00.000000Z"
    staging.save(st3)
    r = patch(tech, url3, 5, b"56789")
    assert r.status_code == 410 and r.json()["type"] == "/problems/gone", r.text
    assert staging.ids() == [id2]
    assert staging.sweep(api_server.ctx.now()) == []
    assert staging.sweep(api_server.ctx.now() + dt.timedelta(hours=24, seconds=1)) == [id2]
    assert staging.ids() == [] and staged_bytes(api_server) == b""


def test_an_upload_whose_kek_epoch_is_destroyed_is_gone(api_server: ApiServer, tech: httpx.Client) -> None:
    url = create(tech, 10)
    staging = Staging(uploads_dir(api_server), api_server.ctx.kek)
    st = staging.load(url.rsplit("/", 1)[1])
    assert st is not None
    st.epoch = 9999  # as after a rotation destroyed the epoch that wrapped its key
    staging.save(st)
    r = patch(tech, url, 0, b"0123456789")
    assert r.status_code == 410 and "rotation" in r.json()["title"] + r.json()["detail"], r.text
    assert staging.ids() == []


def test_two_patches_at_once_one_is_423(api_server: ApiServer, tech: httpx.Client) -> None:
    data = payload(4 * MiB)
    url = create(tech, len(data))
    started = threading.Event()
    release = threading.Event()

    def slow() -> Iterator[bytes]:
        yield data[:MiB]
        started.set()
        release.wait(20)
        yield data[MiB : 2 * MiB]

    out: dict[str, httpx.Response] = {}

    def first() -> None:
        out["r"] = patch(tech, url, 0, slow())  # type: ignore[arg-type]

    t = threading.Thread(target=first)
    t.start()
    assert started.wait(20)
    time.sleep(0.3)
    r = patch(tech, url, 0, data[:10])
    assert r.status_code == 423 and r.json()["type"] == "/problems/locked", r.text
    assert tech.delete(url, headers=TUS).status_code == 423
    release.set()
    t.join(30)
    assert out["r"].status_code == 204 and out["r"].headers["upload-offset"] == str(2 * MiB)


def test_uploads_belong_to_their_key_and_tenant_and_roles_are_checked(api_server: ApiServer) -> None:
    acme, acme2 = api_server.key("technician"), api_server.key("technician")
    beta = api_server.key("technician", tenant="beta")
    with api_server.client(acme) as c:
        data = b"a session log line\n" * 100
        url = create(c, len(data), kind="session_log", tenant="beta")  # the metadata's tenant is ignored
    for other in (beta, acme2):
        with api_server.client(other) as o:
            assert o.head(url, headers=TUS).status_code == 404
            assert patch(o, url, 0, data).status_code == 404
            assert o.delete(url, headers=TUS).status_code == 404
            assert o.head("/v1/uploads/up_" + "0" * 32, headers=TUS).status_code == 404
            assert o.head("/v1/uploads/..%2F..%2Fetc", headers=TUS).status_code == 404
    with api_server.client(acme) as c:
        r = patch(c, url, 0, data)
        assert r.status_code == 204, r.text
        item = r.headers["evidence-id"]
        assert c.get(f"/v1/evidence/{item}").json()["tenant"] == "acme"
    with httpx.Client(base_url=api_server.url) as anon:
        r = anon.post(
            "/v1/uploads",
            headers={**TUS, "Upload-Length": "1", "Upload-Metadata": meta(session="S", kind="session_log")},
        )
        assert r.status_code == 401 and r.headers["tus-resumable"] == "1.0.0"
        assert anon.head(url, headers=TUS).status_code == 401
    for role in ("org_admin", "auditor", "legal", "dpo", "operator"):
        k = api_server.key(role, tenant=None if role == "operator" else "acme")
        with api_server.client(k) as o:
            r = o.post(
                "/v1/uploads",
                headers={**TUS, "Upload-Length": "1", "Upload-Metadata": meta(session="S", kind="session_log")},
            )
            assert r.status_code == 403, (role, r.text)
            assert o.head(url, headers=TUS).status_code == 403
    assert items_count(api_server) == 1


def test_an_empty_upload_is_deposited_at_creation(api_server: ApiServer, tech: httpx.Client) -> None:
    r = tech.post(
        "/v1/uploads",
        headers={**TUS, "Upload-Length": "0", "Upload-Metadata": meta(session="S-0", kind="session_log")},
    )
    assert r.status_code == 201 and r.headers["evidence-id"].startswith("ev_"), r.text
    assert tech.get(f"/v1/evidence/{r.headers['evidence-id']}/content").content == b""


def test_a_tus_upload_carries_the_idempotency_key_and_the_device_signature(
    api_server: ApiServer, tech: httpx.Client
) -> None:
    """The metadata's ``idempotency_key`` and ``signature`` reach the deposit: a second upload under
    the same key gives the same item, a forged signature is refused and nothing is kept."""
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from test_device_signatures import register, sign, statement

    device_key = ed25519.Ed25519PrivateKey.generate()
    device = register(tech, device_key)["id"]
    body = payload(300_000)
    doc = statement(device, body, session="S-tus", kind="session_recording", idempotency_key="tus-k1")
    fields = {
        "idempotency_key": "tus-k1",
        "signature": sign(device_key, doc),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    before = items_count(api_server)

    first = create(tech, len(body), **fields)
    r = patch(tech, first, 0, body)
    assert r.status_code == 204, r.text
    item = r.headers["evidence-id"]
    again = create(tech, len(body), **fields)
    r = patch(tech, again, 0, body)
    assert r.status_code == 204, r.text
    assert r.headers["evidence-id"] == item  # the retry after a lost acknowledgement: the same item
    assert items_count(api_server) == before + 1
    seal_pending(api_server.ctx)
    report = items.verify(api_server.ctx, SYSTEM, item).as_json()
    checks = {c["name"]: c for c in report["checks"]}
    assert report["status"] == "valid" and checks["client_signature"]["ok"], checks.get("client_signature")

    forged = bytearray(sign(device_key, statement(device, body, session="S-tus", kind="session_recording")), "ascii")
    forged[-3] = ord("A") if forged[-3] != ord("A") else ord("B")
    url = create(tech, len(body), signature=forged.decode())
    r = patch(tech, url, 0, body)
    assert r.status_code in (400, 403, 422), r.text
    assert "signature" in r.json()["type"]
    assert items_count(api_server) == before + 1 and staged_bytes(api_server).count(b"PLAINTEXT-MARKER") == 0
