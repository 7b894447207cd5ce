"""The issue's walk-through, as a person would do it: `vault init && vault up` in one shell,
the other verbs in another, then openssl on the proof folder; Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_support import free_port, run_vault, start_vault_up, vault_env


def _vault(home: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return run_vault(home, *args, check=check, env=vault_env(home, VAULT_BATCH_MAX_SECONDS="600"))


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.fixture(scope="module")
def running_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    home = tmp_path_factory.mktemp("vault-home")
    assert "vault home" in _vault(home, "init", check=True).stdout
    _vault(home, "init", check=True)  # idempotent
    # the batcher waits 10 minutes, so the test sees an item pending until `vault seal`
    proc = start_vault_up(home, free_port(), env={"VAULT_BATCH_MAX_SECONDS": "600"})
    yield home, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def test_walkthrough(running_vault: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path) -> None:
    home, _ = running_vault
    status = _vault(home, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout)["ok"] is True

    doc = tmp_path / "report.pdf"
    doc.write_bytes(b"%PDF-1.7 intervention report\n" * 50)
    r = _vault(home, "deposit", str(doc), "--tenant", "acme", "--session", "S-1", "--kind", "signed_document",
               "--subject", "erin", "--meta", "ip=192.0.2.1", "--json", check=True)  # fmt: skip
    item = json.loads(r.stdout)["id"]
    rec = tmp_path / "conn.json"
    rec.write_text(json.dumps({"ip": "192.0.2.1", "port": 5938, "device_id": "PC-77", "user": "erin"}))
    rec_id = json.loads(_vault(home, "deposit", str(rec), "--tenant", "acme", "--session", "S-1", "--kind",
                               "connection_metadata", "--json", check=True).stdout)["id"]  # fmt: skip

    pending = _vault(home, "verify", item, "--json")
    assert pending.returncode == 1 and json.loads(pending.stdout)["status"] == "pending"

    sealed = json.loads(_vault(home, "seal", "--json", check=True).stdout)
    assert sealed["items"] == 2
    for i in (item, rec_id):
        v = _vault(home, "verify", i, "--json")
        assert v.returncode == 0, v.stdout
        assert json.loads(v.stdout)["valid"] is True

    d = tmp_path / "proof"
    _vault(home, "proof", item, "--out", str(d), check=True)
    root = json.loads((d / "batch.json").read_text())["root"]
    ts = subprocess.run(["openssl", "ts", "-verify", "-digest", root, "-in", d / "timestamp.tsr", "-CAfile",
                         d / "certs/tsa-ca.pem", "-untrusted", d / "certs/tsa.pem"], capture_output=True, text=True)  # fmt: skip
    assert "Verification: OK" in ts.stdout, ts.stdout + ts.stderr
    cms = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", d / "seal.p7s", "-content",
                          d / "batch.json", "-CAfile", d / "certs/seal-ca.pem", "-purpose", "any", "-out", "/dev/null"],
                         capture_output=True, text=True)  # fmt: skip
    assert cms.returncode == 0 and "Verification successful" in cms.stderr

    ok = _vault(home, "verify", "--bundle", str(d), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["valid"] is True
    for name, check in (("payload", "payload_digest"), ("batch.json", "seal")):
        data = bytearray((d / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        (d / name).write_bytes(bytes(data))
        bad = _vault(home, "verify", "--bundle", str(d), "--json")
        out = json.loads(bad.stdout)
        assert bad.returncode == 1 and out["valid"] is False
        assert check in [c["name"] for c in out["checks"] if not c["ok"]]
        data[len(data) // 2] ^= 0x01
        (d / name).write_bytes(bytes(data))

    again = _vault(home, "proof", item, "--out", str(d))
    assert again.returncode == 2 and "not empty" in again.stderr


def test_sigterm_stops_everything_cleanly(running_vault: tuple[Path, subprocess.Popen[bytes]]) -> None:
    home, proc = running_vault
    state = json.loads((home / "run/state.json").read_text())
    children = _children(proc.pid)
    assert children, "vault up should run SeaweedFS as a child"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, (home / "up.log").read_text()
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    assert not (home / "run/state.json").exists()
    assert not list((home / "s3").rglob("*.sock"))
    down = _vault(home, "status", "--json")
    assert down.returncode == 1 and json.loads(down.stdout)["ok"] is False
    port = int(state["tsa_url"].rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))  # nothing listens on the TSA port any more
