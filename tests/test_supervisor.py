"""`vault up` after a crash, and its SeaweedFS child dying under it, with real processes.

- kill -9 `vault up`: its SeaweedFS dies with it (parent-death signal), the next `vault up`
  starts at once (stale state file, a `weed` still shutting down), and the vault works;
- a `weed` left over by a run that could not take it down (no parent-death signal) is stopped;
- kill -9 the SeaweedFS child: `vault up` restarts it by itself, items verify, deposits work;
- a SeaweedFS that cannot be restarted: `vault up` gives up after a few attempts, exit code 2.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api_support import free_port, run_vault, vault_env

#: the issue's bound on every recovery measured here
RECOVERY_SECONDS = 30.0


def _env(home: Path) -> dict[str, str]:
    return vault_env(home, VAULT_BATCH_MAX_SECONDS="600")


def _vault(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_vault(home, *args, check=check, env=_env(home), timeout=120)


class Up:
    """One `vault up` process on ``home``, its stderr in ``home/up-<n>.log``."""

    count = 0

    def __init__(self, home: Path, port: int) -> None:
        Up.count += 1
        self.home, self.port = home, port
        self.log = home / f"up-{Up.count}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vault.cli", "up", "--port", str(port)],
            env=_env(home),
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds until this process wrote run/state.json (a stale one names another pid)."""
        t0 = time.monotonic()
        state = self.home / "run/state.json"
        while time.monotonic() - t0 < timeout:
            assert self.proc.poll() is None, self.text()
            try:
                if json.loads(state.read_text())["pid"] == self.proc.pid:
                    return time.monotonic() - t0
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"vault up not ready in {timeout} s\n{self.text()}")

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _weed_pid(home: Path) -> int:
    return int((home / "s3/run/weed.pid").read_text().split()[0])


def _gone(pid: int) -> bool:
    """No process ``pid``, or a zombie whose threads have all ended."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state == "Z" and len(os.listdir(f"/proc/{pid}/task")) <= 1
    except OSError:
        return True


def _wait_gone(pid: int, timeout: float) -> float:
    t0 = time.monotonic()
    while not _gone(pid):
        assert time.monotonic() - t0 < timeout, f"pid {pid} still runs after {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - t0


class Api:
    """The vault's HTTP API with a technician, an auditor and an operator key of tenant acme
    (made on the host while a `vault up` runs; they live in the index, so they survive it)."""

    def __init__(self, home: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        _vault(home, "tenant", "create", "acme")
        made = {
            role: _vault(home, "admin", "key", "create", *tenant, "--role", role).stdout.strip()
            for role, tenant in (("technician", ("--tenant", "acme")), ("auditor", ("--tenant", "acme")),
                                 ("operator", ()))
        }  # fmt: skip
        self.keys = made

    def _call(self, role: str, method: str, path: str, **kw: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kw)  # type: ignore[arg-type]

    def deposit(self, payload: bytes) -> httpx.Response:
        return self._call("technician", "POST", "/v1/evidence", data={"session": "S-1", "kind": "session_log"},
                          files={"file": ("session.log", payload)})  # fmt: skip

    def deposit_seal_verify(self, payload: bytes, *earlier: str) -> str:
        """A new item deposited, sealed and verified, and the earlier ones still verify."""
        r = self.deposit(payload)
        assert r.status_code == 201, r.text
        item = str(r.json()["id"])
        sealed = self._call("operator", "POST", "/v1/seal")
        assert sealed.status_code == 200 and sealed.json()["batches"], sealed.text
        for i in (*earlier, item):
            v = self._call("auditor", "POST", "/v1/verify", json={"evidence_id": i})
            assert v.status_code == 200 and v.json()["status"] == "valid", v.text
        return item


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    _vault(h, "init")
    return h


@pytest.fixture
def payload() -> bytes:
    return os.urandom(64 * 1024)


@pytest.fixture
def ups() -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        up.stop()


def test_after_kill_9_of_vault_up_the_next_vault_up_works_at_once(home: Path, payload: bytes, ups: list[Up]) -> None:
    port = free_port()
    first = Up(home, port)
    ups.append(first)
    first.wait_ready()
    api = Api(home, port)
    before = api.deposit_seal_verify(payload)
    weed = _weed_pid(home)

    first.proc.kill()  # SIGKILL: no handler, no atexit, state.json stays behind
    first.proc.wait()
    t0 = time.monotonic()
    # started at once, while the old SeaweedFS is still shutting down on its parent-death signal
    second = Up(home, port)
    ups.append(second)
    second.wait_ready()
    ready = time.monotonic() - t0
    assert _gone(weed), "the old SeaweedFS must be gone once the new vault up is ready"
    assert _weed_pid(home) != weed
    after = api.deposit_seal_verify(payload, before)  # the same API port, free again
    total = time.monotonic() - t0
    assert total < RECOVERY_SECONDS, f"working again after {total:.1f} s"
    log = second.text()
    assert "removing the state file of a vault up that did not stop cleanly" in log, log
    print(f"\nkill -9 vault up: ready again in {ready:.1f} s, deposit+seal+verify done at {total:.1f} s ({after})")


def test_the_seaweedfs_of_a_killed_vault_up_dies_with_it(home: Path, ups: list[Up]) -> None:
    up = Up(home, free_port())
    ups.append(up)
    up.wait_ready()
    weed = _weed_pid(home)
    up.proc.kill()
    up.proc.wait()
    took = _wait_gone(weed, 15)  # SIGTERM at once, weed exits in ~3.4 s
    print(f"\nSeaweedFS gone {took:.1f} s after kill -9 of vault up")


def test_a_leftover_seaweedfs_whose_owner_is_gone_is_stopped(home: Path, payload: bytes, ups: list[Up]) -> None:
    # a weed started without the parent-death signal by a process that then vanished, as an
    # older vault up (or a SIGKILL between fork and prctl) would leave it
    script = (
        "import os, sys\n"
        "from vault.config import load_settings\n"
        "from vault.storage.embedded import EmbeddedSeaweed\n"
        "s = load_settings()\n"
        "sw = EmbeddedSeaweed(s.home / 's3', access_key=s.s3_access_key, secret_key=s.s3_secret_key,"
        " die_with_parent=False)\n"
        "sw.start()\n"
        "print(sw.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(home), timeout=90)
    assert r.returncode == 0, r.stderr
    leftover = int(r.stdout.split()[-1])
    assert not _gone(leftover)
    try:
        port = free_port()
        up = Up(home, port)
        ups.append(up)
        up.wait_ready()
        assert _gone(leftover)
        assert f"stopping the SeaweedFS left over by a crashed run on this data directory: pid {leftover}" in up.text()
        Api(home, port).deposit_seal_verify(payload)
    finally:
        if not _gone(leftover):
            os.killpg(leftover, signal.SIGKILL)


def test_a_killed_seaweedfs_comes_back_by_itself(home: Path, payload: bytes, ups: list[Up]) -> None:
    port = free_port()
    up = Up(home, port)
    ups.append(up)
    up.wait_ready()
    api = Api(home, port)
    before = api.deposit_seal_verify(payload)
    endpoint = json.loads((home / "run/state.json").read_text())["s3_endpoint"]
    weed = _weed_pid(home)

    os.kill(weed, signal.SIGKILL)
    t0 = time.monotonic()
    refused = 0
    while (r := api.deposit(payload)).status_code != 201:
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json", r.text
        refused += 1
        assert time.monotonic() - t0 < RECOVERY_SECONDS, up.text()
        time.sleep(0.5)
    back = time.monotonic() - t0
    item = str(r.json()["id"])
    assert up.proc.poll() is None, "vault up itself keeps running"
    assert _weed_pid(home) != weed
    state = json.loads((home / "run/state.json").read_text())
    ports = json.loads((home / "s3/ports.json").read_text())["ports"]
    assert state["s3_endpoint"] == f"http://127.0.0.1:{ports['s3']}"
    assert state["s3_endpoint"] == endpoint, "the ports were free: the same endpoint comes back"
    api.deposit_seal_verify(payload, before, item)
    total = time.monotonic() - t0
    assert total < RECOVERY_SECONDS
    log = up.text()
    assert "SeaweedFS exited (killed by SIGKILL): restarting it" in log and "SeaweedFS restarted" in log, log
    print(f"\nkill -9 SeaweedFS: {refused} deposit(s) refused (503), the next accepted after {back:.1f} s, "
          f"seal+verify done at {total:.1f} s")  # fmt: skip


def test_vault_up_stops_when_seaweedfs_cannot_be_restarted(home: Path, ups: list[Up]) -> None:
    up = Up(home, free_port())
    ups.append(up)
    up.wait_ready()
    weed = _weed_pid(home)
    # weed's working directory becomes a file: no start can prepare it any more
    config = home / "s3/config"
    shutil.rmtree(config)
    config.write_text("not a directory\n")
    os.kill(weed, signal.SIGKILL)
    t0 = time.monotonic()
    code = up.proc.wait(timeout=60)
    took = time.monotonic() - t0
    assert code == 2, up.text()
    log = up.text()
    assert "SeaweedFS restart 1/5 failed" in log and "SeaweedFS restart 4/5 failed" in log, log
    assert "vault up stops: SeaweedFS could not be restarted after 5 attempts" in log, log
    assert "error: the embedded SeaweedFS stopped and could not be restarted after 5 attempts" in log, log
    assert not (home / "run/state.json").exists()
    print(f"\nvault up gave up {took:.1f} s after SeaweedFS died")
