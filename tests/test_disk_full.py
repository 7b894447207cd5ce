"""A full disk under a running `vault up`, on a real (small) file system.

$VAULT_HOME lives on a 200 MiB tmpfs, so the index, the embedded SeaweedFS and the logs all
run out of space together. Deposits fill it: no acknowledged item is lost, each refused
deposit says why (503 problem, "disk full" when SeaweedFS refuses), `vault status` exits 1
and names the disk; then a filler file is deleted and deposits and seals work again within
30 s without restarting `vault up` (its supervisor restarts SeaweedFS if it stays read-only).

Mounting needs root: the test is skipped otherwise, except under CI=true, where it fails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from api_support import free_port, run_vault, vault_env

MiB = 1024 * 1024
TMPFS_SIZE = 200 * MiB
#: room left for deposits once the first filler is in place
ROOM = 40 * MiB
PAYLOAD = 4 * MiB
RECOVERY_SECONDS = 30.0


def _env(home: Path) -> dict[str, str]:
    return vault_env(home, VAULT_BATCH_MAX_SECONDS="1")


def _vault(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_vault(home, *args, check=check, env=_env(home), timeout=120)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _fill(path: Path, size: int | None = None) -> None:
    """A file of ``size`` bytes of real pages (tmpfs allocates them), or as large as fits."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        if size is not None:
            os.posix_fallocate(fd, 0, size)
            return
        for block in (MiB, 4096):
            with contextlib.suppress(OSError):  # ENOSPC: as full as this block size allows
                while True:
                    os.write(fd, b"\0" * block)
    finally:
        os.close(fd)


def _store_client(home: Path) -> Any:
    """An S3 client of the embedded store, as the vault configures it (no retries)."""
    from vault.config import load_settings, read_state

    settings = load_settings(home)
    return boto3.session.Session().client(
        "s3",
        endpoint_url=read_state(settings)["s3_endpoint"],
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        reason = "mounting a tmpfs for the full-disk test needs root"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run it (as root), not skip it")
        pytest.skip(reason)
    mnt = tmp_path / "fs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE // MiB}m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def vault_up(tmpfs: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes], str]]:
    home = tmpfs / "home"
    _vault(home, "init")
    port = free_port()
    log = tmpfs.parent / "up.log"  # not on the full disk: the test reads it afterwards
    proc = subprocess.Popen(
        [sys.executable, "-m", "vault.cli", "up", "--port", str(port)],
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        deadline = time.monotonic() + 60
        while not (home / "run/state.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield home, proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_full_disk_loses_nothing_says_so_and_recovers_without_restart(
    vault_up: tuple[Path, subprocess.Popen[bytes], str],
) -> None:
    home, proc, url = vault_up
    mnt = home.parent
    _vault(home, "tenant", "create", "acme")
    tech = _vault(home, "admin", "key", "create", "--tenant", "acme", "--role", "technician").stdout.strip()
    auditor = _vault(home, "admin", "key", "create", "--tenant", "acme", "--role", "auditor").stdout.strip()
    operator = _vault(home, "admin", "key", "create", "--role", "operator").stdout.strip()
    api = httpx.Client(base_url=url, timeout=120)

    def deposit() -> httpx.Response:
        return api.post(
            "/v1/evidence",
            headers={"Authorization": f"Bearer {tech}"},
            data={"session": "S-1", "kind": "session_log"},
            files={"file": ("recording.bin", os.urandom(PAYLOAD))},
        )

    # leave ROOM for deposits, then deposit until the vault refuses
    _fill(mnt / "filler-1", _free(mnt) - ROOM)
    acknowledged: list[str] = []
    refusals: list[str] = []
    for _ in range(ROOM // PAYLOAD + 10):
        r = deposit()
        if r.status_code == 201:
            acknowledged.append(r.json()["id"])
            continue
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json", r.text
        refusals.append(r.json()["detail"])
        if len(refusals) == 2:
            break
    assert len(acknowledged) >= 3 and len(refusals) == 2, (acknowledged, refusals)
    assert all("disk full" in d for d in refusals), refusals

    # then nothing left at all: the index cannot write either, and a metadata-only write (a
    # delete marker) breaks SeaweedFS's filer store until it restarts (it stays "no space
    # left on device" after space is back: the supervisor must restart it)
    _fill(mnt / "filler-2")
    store = _store_client(home)
    broken = 0
    for i in range(40):  # each adds a little to the filer's leveldb journal: it soon needs a page
        try:
            store.delete_object(Bucket="evidence", Key=f"_health/full-{i}")
        except ClientError:
            broken += 1
            if broken == 3:
                break
    r = deposit()
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json", r.text
    cli = _vault(home, "deposit", "/etc/hostname", "--tenant", "acme", "--session", "S-1", "--kind", "session_log",
                 check=False)  # fmt: skip
    assert cli.returncode == 2 and "disk" in cli.stderr and len(cli.stderr.strip().splitlines()) == 1, cli.stderr

    status = _vault(home, "status", "--json", check=False)
    assert status.returncode == 1, status.stdout + status.stderr
    health = json.loads(status.stdout)
    disk = health["checks"]["disk"]
    assert disk["ok"] is False and disk["detail"].startswith("disk full: ") and str(home) in disk["detail"], disk
    assert health["checks"]["object_store"]["ok"] is False, health

    # free space again: deposits and seals come back by themselves, vault up keeps running
    for filler in (mnt / "filler-1", mnt / "filler-2"):
        filler.unlink()
    t0 = time.monotonic()
    while (r := deposit()).status_code != 201:
        assert r.status_code == 503, r.text
        assert time.monotonic() - t0 < RECOVERY_SECONDS, f"no deposit accepted in {RECOVERY_SECONDS} s: {r.text}"
        time.sleep(1)
    deposit_back = time.monotonic() - t0
    acknowledged.append(r.json()["id"])
    while (sealed := api.post("/v1/seal", headers={"Authorization": f"Bearer {operator}"})).status_code != 200:
        assert time.monotonic() - t0 < RECOVERY_SECONDS, sealed.text
        time.sleep(1)
    seal_back = time.monotonic() - t0
    assert proc.poll() is None, "vault up was never restarted"

    # every acknowledged item is in a sealed batch and verifies
    for item in acknowledged:
        v = api.post("/v1/verify", headers={"Authorization": f"Bearer {auditor}"}, json={"evidence_id": item})
        assert v.status_code == 200 and v.json()["status"] == "valid", v.text
    ready = api.get("/readyz")
    assert ready.status_code == 200, ready.text
    print(
        f"\n{len(acknowledged) - 1} deposits filled the disk; after freeing it a deposit was accepted after "
        f"{deposit_back:.1f} s and a seal done after {seal_back:.1f} s"
    )


# -- without root: how refusals are named, and the write probe --------------------------------


def _client_error(code: str, message: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutObject")


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (_client_error("XMinioStorageFull", "Storage backend has reached its minimum free drive threshold.", 507),
         "disk full"),
        (_client_error("InternalError", "write data/1.dat: no space left on device", 500), "disk full"),
        (_client_error("InsufficientStorage", "", 507), "disk full"),
        (_client_error("SignatureDoesNotMatch", "The request signature we calculated does not match", 403),
         "credentials refused"),
        (_client_error("InvalidAccessKeyId", "The access key ID you provided does not exist", 403),
         "credentials refused"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9/evidence"), "the object store does not answer"),
        (_client_error("AccessDenied", "object is WORM protected", 403), None),
    ],
)  # fmt: skip
def test_storage_errors_name_their_cause(error: Exception, cause: str | None) -> None:
    from vault.service.health import _store_cause
    from vault.storage.s3 import _err

    e = _err("put t/acme/items/ev_x", error)
    assert _store_cause(e.message) == cause, str(e)
    if cause is None:  # everything else reads as before
        assert str(e) == "object store refused put t/acme/items/ev_x: AccessDenied: object is WORM protected"


def test_the_health_cause_is_the_most_telling_failure() -> None:
    from vault.service.health import Health

    down = {"ok": False, "detail": "x"}
    assert Health({"disk": {"ok": True, "detail": "d"}}).cause is None
    checks = {
        "index": {**down, "cause": "the index does not answer"},
        "object_store": {**down, "cause": "the object store does not answer"},
        "disk": {**down, "cause": "disk full"},
    }
    assert Health(checks).cause == "disk full"
    assert Health({"tsa": {"ok": False, "detail": "no TSA answered"}}).cause == "tsa: no TSA answered"
    assert Health(checks).as_json()["cause"] == "disk full"


def test_thresholds_and_volume_sizes() -> None:
    from vault.storage.embedded import min_free_bytes, volume_size_limit_mb

    GiB = 1024 * MiB
    assert min_free_bytes(200 * MiB) == 20 * MiB  # small: 10 %
    assert min_free_bytes(10 * GiB) == GiB  # 1 GiB
    assert min_free_bytes(100 * GiB) == 5 * GiB  # 5 %
    # weed mini's rule (capacity / 100 as a power of two, up to 1 GiB) with an 8 MiB floor
    assert volume_size_limit_mb(200 * MiB) == 8
    assert volume_size_limit_mb(3 * GiB) == 32
    assert volume_size_limit_mb(100 * GiB) == 1024
    assert volume_size_limit_mb(4 * 1024 * GiB) == 1024


def test_the_write_probe_leaves_nothing_behind(ctx: Any) -> None:
    from vault.storage.s3 import PROBE_KEY

    for _ in range(3):
        assert ctx.store.probe_write() < 10
    assert ctx.store.versions(PROBE_KEY) == []


def test_the_write_probe_under_default_retention_keeps_only_recent_versions(ctx: Any) -> None:
    from vault.storage.s3 import PROBE_KEY

    ctx.store.client.put_object_lock_configuration(
        Bucket=ctx.store.bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 365}},
        },
    )
    ctx.store.probe_write()
    [(first, _)] = ctx.store.versions(PROBE_KEY)
    head = ctx.store.head(PROBE_KEY, first)
    assert head["ObjectLockMode"] == "GOVERNANCE", head  # not the bucket's year of COMPLIANCE
    assert (head["ObjectLockRetainUntilDate"] - dt.datetime.now(dt.UTC)).total_seconds() < 5
    time.sleep(3.5)  # its lock ends
    ctx.store.probe_write()
    ctx.store.probe_write()
    left = [v for v, _ in ctx.store.versions(PROBE_KEY)]
    assert first not in left and len(left) <= 2, left
