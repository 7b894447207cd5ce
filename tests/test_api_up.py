"""The issue's acceptance flow against a real `vault up`, with curl as the client: a
technician key of acme uploads (201), beta's key gets 404, no key 401, an auditor verifies
(valid), a wrong X-Content-SHA256 is 422 problem+json with no item; the CLI's key verbs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_support import free_port, run_vault, start_vault_up


def _vault(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_vault(home, *args, check=check)


def _curl(*args: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one curl call."""
    r = subprocess.run(["curl", "-sS", "-i", *args], capture_output=True, timeout=120, check=True)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, body = body.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.fixture(scope="module")
def vault_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    home = tmp_path_factory.mktemp("api-home")
    _vault(home, "init")
    port = free_port()
    proc = start_vault_up(home, port, env={"VAULT_BATCH_MAX_SECONDS": "1"})
    try:
        yield home, f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, (home / "up.log").read_text()


def test_the_acceptance_flow_with_curl(vault_up: tuple[Path, str], tmp_path: Path) -> None:
    home, url = vault_up
    for tenant in ("acme", "beta"):
        _vault(home, "tenant", "create", tenant)
    made = json.loads(
        _vault(home, "admin", "key", "create", "--tenant", "acme", "--role", "technician", "--json").stdout
    )
    tech, tech_id = made["key"], made["id"]
    assert tech.startswith(f"vk_{tech_id}_") and made["tenant"] == "acme" and made["role"] == "technician"
    beta = json.loads(
        _vault(home, "admin", "key", "create", "--tenant", "beta", "--role", "org_admin", "--json").stdout
    )
    auditor = _vault(home, "admin", "key", "create", "--tenant", "acme", "--role", "auditor").stdout.strip()
    listed = json.loads(_vault(home, "admin", "key", "list", "--json").stdout)["keys"]
    assert {k["id"] for k in listed} >= {tech_id, beta["id"]}
    assert tech not in json.dumps(listed), "a key is shown once, never listed"

    doc = tmp_path / "report.pdf"
    doc.write_bytes(b"%PDF-1.7 intervention report\n" * 200)
    digest = hashlib.sha256(doc.read_bytes()).hexdigest()
    status, headers, body = _curl(
        "-H", f"Authorization: Bearer {tech}", "-H", f"X-Content-SHA256: {digest}",
        "-F", "session=S-1", "-F", "kind=signed_document", "-F", "subject=erin", "-F", 'metadata={"ip": "192.0.2.1"}',
        "-F", f"file=@{doc}", f"{url}/v1/evidence",
    )  # fmt: skip
    assert status == 201, body
    item = json.loads(body)["id"]
    assert headers["location"] == f"/v1/evidence/{item}"

    status, headers, body = _curl("-H", f"Authorization: Bearer {beta['key']}", f"{url}/v1/evidence/{item}")
    assert status == 404 and headers["content-type"] == "application/problem+json", body
    status, headers, body = _curl(f"{url}/v1/evidence/{item}")
    assert status == 401 and json.loads(body)["type"] == "/problems/unauthenticated"

    # sealed by the running batcher within seconds; the auditor verifies it
    deadline = time.time() + 30
    while True:
        status, _, body = _curl(
            "-H", f"Authorization: Bearer {auditor}", "-H", "Content-Type: application/json",
            "-d", json.dumps({"evidence_id": item}), f"{url}/v1/verify",
        )  # fmt: skip
        assert status == 200, body
        if json.loads(body)["status"] != "pending" or time.time() > deadline:
            break
        time.sleep(0.5)
    result = json.loads(body)
    assert result["valid"] is True and result["status"] == "valid", result
    assert {c["name"] for c in result["checks"]} >= {"payload_digest", "seal", "timestamp", "chain"}

    status, headers, body = _curl(
        "-H", f"Authorization: Bearer {tech}", "-H", "X-Content-SHA256: " + "0" * 64,
        "-F", "session=S-1", "-F", "kind=signed_document", "-F", f"file=@{doc}", f"{url}/v1/evidence",
    )  # fmt: skip
    assert status == 422 and headers["content-type"] == "application/problem+json", body
    problem = json.loads(body)
    assert problem["status"] == 422 and "not the one announced" in problem["detail"]
    entries = json.loads(_vault(home, "journal", "--action", "deposit", "--json").stdout)["entries"]
    assert [e["details"]["items"] for e in entries] == [[item]], "the refused upload left no item"
    assert entries[0]["actor"] == f"key:{tech_id}" and entries[0]["role"] == "technician"

    # the page, the anchors, health and metrics answer without a key
    assert _curl(f"{url}/verify")[0] == 200
    status, _, body = _curl(f"{url}/v1/certificates")
    assert status == 200 and json.loads(body)["seal"][0]["sha256"]
    assert _curl(f"{url}/readyz")[0] == 200
    status, _, body = _curl(f"{url}/metrics")
    assert b'vault_deposits_total{kind="signed_document"} 1.0' in body
    assert b'vault_http_requests_total{method="POST",route="/v1/evidence",status="422"} 1.0' in body

    # revocation takes effect at once
    _vault(home, "admin", "key", "revoke", tech_id)
    status, _, body = _curl("-H", f"Authorization: Bearer {tech}", f"{url}/v1/evidence/{item}")
    assert status == 401, body
    bad = _vault(home, "admin", "key", "create", "--role", "technician", check=False)
    assert bad.returncode == 2 and "belongs to one tenant" in bad.stderr and len(bad.stderr.splitlines()) == 1


def test_several_workers_need_postgresql(vault_up: tuple[Path, str]) -> None:
    home, _ = vault_up
    r = _vault(home, "up", "--workers", "2", "--port", str(free_port()), check=False)
    assert r.returncode == 2 and "several API workers need PostgreSQL" in r.stderr, r.stderr


def test_several_workers_on_postgresql(tmp_path: Path, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("runs when the suite runs on PostgreSQL (make test-pg, CI)")
    home = tmp_path / "var"
    _vault(home, "init")
    port = free_port()
    env = {**os.environ, "VAULT_HOME": str(home), "VAULT_DATABASE_URL": database_url, "VAULT_BATCH_MAX_SECONDS": "1"}
    proc = start_vault_up(home, port, "--workers", "2", env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while _curl(f"{url}/healthz")[0] != 200 and time.time() < deadline:
            time.sleep(0.2)

        def vault(*args: str) -> str:
            r = subprocess.run([sys.executable, "-m", "vault.cli", *args], capture_output=True, text=True, env=env)
            assert r.returncode == 0, r.stderr
            return r.stdout.strip()

        vault("tenant", "create", "acme")
        tech = vault("admin", "key", "create", "--tenant", "acme", "--role", "technician")
        auditor = vault("admin", "key", "create", "--tenant", "acme", "--role", "auditor")
        ids = []
        for n in range(6):  # spread over both workers by the kernel
            status, _, body = _curl(
                "-H", f"Authorization: Bearer {tech}", "-F", "session=S-1", "-F", "kind=connection_metadata",
                "-F", f'file={{"ip": "192.0.2.{n}"}};type=application/json', f"{url}/v1/evidence",
            )  # fmt: skip
            assert status == 201, body
            ids.append(json.loads(body)["id"])
        deadline = time.time() + 30
        for item in ids:
            while True:
                status, _, body = _curl(
                    "-H", f"Authorization: Bearer {auditor}", "-H", "Content-Type: application/json",
                    "-d", json.dumps({"evidence_id": item}), f"{url}/v1/verify",
                )  # fmt: skip
                if json.loads(body)["status"] != "pending" or time.time() > deadline:
                    break
                time.sleep(0.5)
            assert status == 200 and json.loads(body)["valid"] is True, body
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, (home / "up.log").read_text()
