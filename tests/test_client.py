"""`vault client`: login, the encrypted offline spool, exactly-once flush, tus resume, signatures.

Against the real API (``api_server``-style: a real uvicorn over the test's vault, real SeaweedFS
and TSA), stopped and restarted on the same port to play "the vault is down". The client runs
as a subprocess (`python -m vault.cli client ...`) with its XDG folders in ``tmp_path``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from api_support import ApiServer, free_port, serve
from vault.api.app import create_app
from vault.batch.sealer import seal_pending
from vault.client import statement
from vault.client.errors import ClientError
from vault.client.spool import CHUNK, Spool
from vault.config import Settings
from vault.context import VaultContext
from vault.index.models import Item

SERVER_STACK = ("fastapi", "uvicorn", "sqlalchemy", "boto3", "alembic")


class Vault:
    """The test's API server on a fixed port, which the test may stop and start again."""

    def __init__(self, ctx: VaultContext, settings: Settings) -> None:
        self.ctx, self.settings, self.port = ctx, settings, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: object | None = None
        self.api = ApiServer(self.url, ctx, settings)

    def start(self) -> None:
        assert self.server is None
        self.server, self.thread = serve(create_app(self.settings, ctx=self.ctx), self.port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True  # type: ignore[attr-defined]
            self.thread.join(timeout=20)
            self.server = None


@pytest.fixture
def vault(ctx: VaultContext, settings: Settings) -> Iterator[Vault]:
    v = Vault(ctx, settings)
    v.start()
    yield v
    v.stop()


def client_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "VAULT_CLIENT_"))}
    env.update(
        HOME=str(tmp_path / "laptop"),
        XDG_CONFIG_HOME=str(tmp_path / "laptop/config"),
        XDG_STATE_HOME=str(tmp_path / "laptop/state"),
        **extra,
    )
    return env


def client(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", "client", *args],
        capture_output=True,
        text=True,
        env=env or client_env(tmp_path),
        timeout=300,
    )


def ok(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def login(tmp_path: Path, vault: Vault, key: str | None = None) -> str:
    key = key or vault.api.key("technician")
    ok(client(tmp_path, "login", "--url", vault.url, "--key", key, "--tenant", "acme"))
    return key


def items(ctx: VaultContext, session: str) -> list[Item]:
    with ctx.sessions() as s:
        return list(s.scalars(select(Item).where(Item.session == session).order_by(Item.seq)).all())


def spool_files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "laptop/state/vault-client/spool").iterdir() if p.is_file())


# -- without a server -----------------------------------------------------------------------------


def test_the_client_imports_no_server_stack() -> None:
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vault.cli", "client", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    modules = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines() if "|" in line}
    assert not modules & {*SERVER_STACK, "httpx", "cryptography"}, modules & {*SERVER_STACK, "httpx", "cryptography"}


def test_statement_is_canonical_json_signed_with_ed25519() -> None:
    import datetime as dt

    from cryptography.hazmat.primitives import serialization

    private, public = statement.generate_device_key()
    key = statement.load_device_key(private)
    doc = statement.statement(
        tenant="acme",
        session="S-1",
        kind="session_log",
        sha256="ab" * 32,
        size=3,
        created=dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        idempotency_key="k1",
        device="dv_x",
    )
    body, sig = statement.parse(statement.sign(doc, key))
    assert body == (
        b'{"created":"2026-01-02T03:04:05.000006Z","device":"dv_x","idempotency_key":"k1","kind":"session_log",'
        b'"session":"S-1","sha256":"' + b"ab" * 32 + b'","size":3,"tenant":"acme","type":"vault-client-statement/1"}'
    )
    serialization.load_pem_public_key(public).verify(sig, body)  # type: ignore[union-attr]
    assert len(statement.fingerprint(public)) == 64


def test_the_spool_encrypts_chunks_and_refuses_altered_bytes(tmp_path: Path) -> None:
    spool = Spool.at(tmp_path / "spool", os.urandom(32))
    data = os.urandom(2 * CHUNK + 123)
    staged = spool.stage(io.BytesIO(data))
    assert staged.sha256 == hashlib.sha256(data).hexdigest() and staged.size == len(data)
    from vault.client.spool import Entry

    entry = spool.commit(
        staged,
        lambda i: Entry(
            id=i, file="f", filename="f", session="s", kind="session_log", purpose=None, subject=None, meta=None,
            sha256=staged.sha256, size=staged.size, idempotency_key="k", spooled_at="t", data_key=staged.data_key,
        ),
    )  # fmt: skip
    assert spool.load(entry.id) == entry
    with spool.payload(entry) as p:
        assert b"".join(p) == data
    with spool.payload(entry, CHUNK + 7) as p:  # a resumed upload reads from the middle
        assert b"".join(p) == data[CHUNK + 7 :]
    raw = (tmp_path / "spool" / f"{entry.id}.data").read_bytes()
    assert data[:64] not in raw
    damaged = bytearray(raw)
    damaged[CHUNK + 40] ^= 1
    (tmp_path / "spool" / f"{entry.id}.data").write_bytes(bytes(damaged))
    with pytest.raises(ClientError, match="damaged"), spool.payload(entry) as p:
        b"".join(p)
    (tmp_path / "spool" / f"{entry.id}.data").write_bytes(raw[: -(CHUNK // 2)])  # truncated
    with pytest.raises(ClientError, match="damaged"), spool.payload(entry) as p:
        b"".join(p)
    with pytest.raises(ClientError, match="does not decrypt"):
        Spool(tmp_path / "spool", os.urandom(32)).load(entry.id)


def test_bad_input_is_one_line_and_nothing_spooled(tmp_path: Path) -> None:
    r = client(tmp_path, "deposit", "--session", "S-1", "--kind", "session_log", str(tmp_path / "nope.log"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no such file" in r.stderr, r.stderr
    (tmp_path / "a.log").write_text("x")
    r = client(tmp_path, "deposit", "--session", "S-1", "--kind", "session_log", str(tmp_path / "a.log"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not logged in" in r.stderr, r.stderr
    r = client(tmp_path, "status", "--json")
    assert json.loads(ok(r).stdout)["login"] == {"logged_in": False}


# -- against the API ------------------------------------------------------------------------------


def test_login_keeps_private_files_and_registers_the_device(tmp_path: Path, vault: Vault) -> None:
    bad = client(tmp_path, "login", "--url", vault.url, "--key", "vk_0123456789abcdef_" + "x" * 43)
    assert bad.returncode == 1 and "401" in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
    assert not (tmp_path / "laptop/config/vault-client/config.json").exists()

    login(tmp_path, vault)
    folder = tmp_path / "laptop/config/vault-client"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("config.json", "device.pem", "spool.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    status = json.loads(ok(client(tmp_path, "status", "--json")).stdout)
    assert status["login"]["url"] == vault.url and status["login"]["tenant"] == "acme"
    # the contract: POST /v1/devices (helper B) registers the key and names it dv_…
    assert str(status["login"]["device"]).startswith("dv_"), "the vault has no POST /v1/devices yet"

    r = client(tmp_path, "deposit", "--session", "S-1", "--kind", "session_log", str(tmp_path / "missing.log"))
    assert r.returncode == 2 and "no such file" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = client(tmp_path, "deposit", "--session", "bad session", "--kind", "session_log", str(folder / "config.json"))
    assert r.returncode == 2 and "--session" in r.stderr, r.stderr
    r = client(tmp_path, "deposit", "--session", "S-1", "--kind", "selfie", str(folder / "config.json"))
    assert r.returncode == 2 and "unknown kind" in r.stderr, r.stderr
    assert json.loads(ok(client(tmp_path, "status", "--json")).stdout)["pending"] == []


def test_twenty_files_spooled_offline_are_sent_exactly_once_across_a_killed_flush(
    tmp_path: Path, vault: Vault, ctx: VaultContext
) -> None:
    login(tmp_path, vault)
    folder = tmp_path / "session"
    folder.mkdir()
    paths = []
    for i in range(20):
        p = folder / f"secret-name-{i:02d}.log"
        p.write_bytes(f"PLAINTEXT-MARKER-{i:02d} session log line\n".encode() * 50)
        paths.append(p)

    vault.stop()  # the technician is offline
    r = ok(client(tmp_path, "deposit", "--session", "S-20", "--kind", "session_log", "--json", *map(str, paths)))
    doc = json.loads(r.stdout)
    assert len(doc["spooled"]) == 20 and doc["sent"] == [] and "does not answer" in doc["reason"]
    r = ok(client(tmp_path, "deposit", "--session", "S-20", "--kind", "session_log", str(paths[0])))
    assert "safely spooled" in r.stderr and "spooled" in r.stdout  # people are told which
    # (that 21st deposit is a real second deposit of the same file: it gets its own item)
    pending = json.loads(ok(client(tmp_path, "status", "--json")).stdout)["pending"]
    assert [e["file"] for e in pending] == [*map(str, paths), str(paths[0])]
    assert len({e["idempotency_key"] for e in pending}) == 21

    blobs = [p.read_bytes() for p in spool_files(tmp_path)]
    assert len(blobs) == 2 * 21 + 2  # .entry + .data per file, .lock and .flush.lock
    for blob in blobs:  # no plaintext of the files, nor their names, nor the session
        assert b"PLAINTEXT-MARKER" not in blob and b"secret-name" not in blob and b"S-20" not in blob
    for p in spool_files(tmp_path):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p

    r = client(tmp_path, "flush")
    assert r.returncode == 75 and "still spooled" in r.stderr, (r.returncode, r.stderr)

    vault.start()  # back online: a flush dies (SIGKILL) right after the 7th acknowledgement
    r = client(tmp_path, "flush", env=client_env(tmp_path, VAULT_CLIENT_FAULT="kill-after-ack=7"))
    assert r.returncode == -9, (r.returncode, r.stdout, r.stderr)
    assert len(json.loads(ok(client(tmp_path, "status", "--json")).stdout)["pending"]) == 21 - 6
    assert len(items(ctx, "S-20")) == 7

    r = client(tmp_path, "flush", "--json")  # run again: sends the rest, the 7th once more
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["sent"]) == 15 and doc["failed"] == [] and doc["remaining"] == 0
    rows = items(ctx, "S-20")
    assert len(rows) == 21, f"{len(rows)} items: the retried 7th was deposited twice (idempotency keys ignored)"
    key = json.loads((tmp_path / "laptop/config/vault-client/config.json").read_text())["api_key"]
    with vault.api.client(key) as http:  # in order, each once (the items are salted: compare contents)
        got = [http.get(f"/v1/evidence/{row.id}/content").raise_for_status().content for row in rows]
    assert got == [*(p.read_bytes() for p in paths), paths[0].read_bytes()]
    assert json.loads(ok(client(tmp_path, "status", "--json")).stdout)["pending"] == []
    assert [p for p in spool_files(tmp_path) if p.suffix in (".entry", ".data")] == []


def test_a_refused_deposit_is_reported_and_never_spooled(tmp_path: Path, vault: Vault, ctx: VaultContext) -> None:
    key = login(tmp_path, vault)
    doc = tmp_path / "quote.pdf"
    doc.write_bytes(b"%PDF-1.7 a quote")
    r = client(tmp_path, "deposit", "--session", "S-4", "--kind", "transaction_proof", "--purpose", "support", str(doc))
    assert r.returncode == 1 and "422" in r.stderr and "refused" in r.stderr, r.stderr
    assert json.loads(ok(client(tmp_path, "status", "--json")).stdout)["pending"] == []

    from vault.access.principal import SYSTEM
    from vault.service import keys

    keys.revoke(ctx, SYSTEM, key.split("_")[1])
    r = client(tmp_path, "deposit", "--session", "S-4", "--kind", "signed_document", str(doc))
    assert r.returncode == 1 and "401" in r.stderr and "vault client login" in r.stderr, r.stderr
    assert json.loads(ok(client(tmp_path, "status", "--json")).stdout)["pending"] == []
    assert items(ctx, "S-4") == []


def test_upload_session_guesses_kinds(tmp_path: Path, vault: Vault, ctx: VaultContext) -> None:
    login(tmp_path, vault)
    folder = tmp_path / "S-5"
    folder.mkdir()
    (folder / "session.log").write_text("connected\n")
    (folder / "screen.webm").write_bytes(b"\x1aE\xdf\xa3 not really a video")
    (folder / "report.pdf").write_bytes(b"%PDF-1.7 intervention report")
    (folder / ".hidden").write_text("skipped")
    (folder / "notes.xyz").write_text("?")
    r = client(tmp_path, "upload-session", str(folder), "--session", "S-5")
    assert r.returncode == 2 and "notes.xyz" in r.stderr and "--kind" in r.stderr, r.stderr
    (folder / "notes.xyz").unlink()
    r = ok(client(tmp_path, "upload-session", str(folder), "--session", "S-5", "--json"))
    assert len(json.loads(r.stdout)["sent"]) == 3
    assert [(row.kind, row.purpose) for row in items(ctx, "S-5")] == [
        ("signed_document", "transaction_proof"),
        ("session_recording", "support"),
        ("session_log", "support"),
    ]


def test_signed_deposit_is_checked_by_the_vault(tmp_path: Path, vault: Vault, ctx: VaultContext) -> None:
    """The contract's signature (helper B verifies it): the proof folder carries the statement."""
    login(tmp_path, vault)
    f = tmp_path / "session.log"
    f.write_bytes(b"signed session log\n")
    r = ok(client(tmp_path, "deposit", "--session", "S-6", "--kind", "session_log", "--json", str(f)))
    item_id = json.loads(r.stdout)["sent"][0]["ids"][0]
    key = json.loads((tmp_path / "laptop/config/vault-client/config.json").read_text())["api_key"]
    seal_pending(ctx)
    with vault.api.client(key) as http:
        report = http.post("/v1/verify", json={"evidence_id": item_id}).raise_for_status().json()
        assert any(c["name"] == "client_signature" and c["ok"] for c in report["checks"]), report
        z = zipfile.ZipFile(io.BytesIO(http.get(f"/v1/evidence/{item_id}/proof").raise_for_status().content))
    names = {n.split("/", 1)[-1] for n in z.namelist()}
    assert {"client-statement.json", "client-statement.sig", "device.pem"} <= names, sorted(names)
    body = json.loads(z.read(next(n for n in z.namelist() if n.endswith("client-statement.json"))))
    assert body["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest() and body["session"] == "S-6"


def test_a_killed_tus_upload_resumes_without_resending(tmp_path: Path, vault: Vault, ctx: VaultContext) -> None:
    """Large files go over tus (helper A's /v1/uploads); a killed upload resumes at the
    vault's Upload-Offset, from the URL kept in the spool entry."""
    login(tmp_path, vault)
    with httpx.Client(base_url=vault.url) as http:
        tus = http.options("/v1/uploads").headers.get("Tus-Version", "")
    assert "1.0.0" in tus, "the vault has no tus endpoint /v1/uploads yet"
    mib = 1024 * 1024
    data = os.urandom(5 * mib + 17)
    f = tmp_path / "screen.mkv"
    f.write_bytes(data)
    knobs = {"VAULT_CLIENT_TUS_THRESHOLD": str(mib), "VAULT_CLIENT_CHUNK": str(mib)}
    r = client(
        tmp_path,
        "deposit",
        "--session",
        "S-7",
        "--kind",
        "session_recording",
        str(f),
        env=client_env(tmp_path, VAULT_CLIENT_FAULT="kill-after-patch=2", **knobs),
    )
    assert r.returncode == -9, (r.returncode, r.stdout, r.stderr)
    pending = json.loads(ok(client(tmp_path, "status", "--json")).stdout)["pending"]
    assert len(pending) == 1 and pending[0]["upload_url"]
    r = client(tmp_path, "flush", "--json", env=client_env(tmp_path, **knobs))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["resumed"][0]["offset"] == 2 * mib
    assert doc["bytes_sent"] == len(data) - 2 * mib  # nothing re-sent that had arrived
    (row,) = items(ctx, "S-7")
    assert row.id == doc["sent"][0] and row.size == len(data)
    key = json.loads((tmp_path / "laptop/config/vault-client/config.json").read_text())["api_key"]
    with vault.api.client(key) as http:
        assert (
            hashlib.sha256(http.get(f"/v1/evidence/{row.id}/content").content).digest() == hashlib.sha256(data).digest()
        )
        # the vault's own byte counters: each byte arrived once, none thrown away
        head = http.head(pending[0]["upload_url"], headers={"Tus-Resumable": "1.0.0"})
        assert head.headers["Evidence-Id"] == row.id
        assert head.headers["Vault-Upload-Received"] == str(len(data)), head.headers
        assert head.headers["Vault-Upload-Discarded"] == "0", head.headers
        seal_pending(ctx)
        report = http.post("/v1/verify", json={"evidence_id": row.id}).raise_for_status().json()
    assert report["status"] == "valid", report


def test_spool_key_is_needed_to_read_the_spool(tmp_path: Path, vault: Vault) -> None:
    login(tmp_path, vault)
    vault.stop()
    f = tmp_path / "a.log"
    f.write_bytes(b"x")
    ok(client(tmp_path, "deposit", "--session", "S-8", "--kind", "session_log", str(f)))
    (tmp_path / "laptop/config/vault-client/spool.key").unlink()
    r = client(tmp_path, "status")
    assert r.returncode == 2 and "spool key" in r.stderr, r.stderr
    _ = base64  # (kept for readers: tus metadata values are base64)
