"""The HTTP API for tests: an app over the test's own vault, served by a real uvicorn on a
free loopback port (``api_server``), and keys made through the real use case."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from vault.access.principal import SYSTEM
from vault.api.app import create_app
from vault.config import Settings
from vault.context import VaultContext
from vault.retention.contract import create_tenant
from vault.service import keys


@dataclass
class ApiServer:
    url: str
    ctx: VaultContext
    settings: Settings

    def key(self, role: str, tenant: str | None = "acme", **kw: object) -> str:
        """A fresh API key of ``role`` (created by the host operator)."""
        if tenant is not None:
            create_tenant(self.ctx, tenant)
        doc = keys.create(self.ctx, SYSTEM, tenant=None if role == "operator" else tenant, role=role, **kw).as_json()  # type: ignore[arg-type]
        return str(doc["key"])

    def client(self, key: str | None = None, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vault_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a `vault` subprocess on ``home`` (no fault injection inherited)."""
    env = {**os.environ, "VAULT_HOME": str(home), **extra}
    env.pop("VAULT_FAULT_INJECT", None)
    return env


def run_vault(
    home: Path, *args: str, check: bool = True, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """`vault ARGS` in a subprocess on ``home``; with ``check``, a non-zero exit fails the test."""
    r = subprocess.run(
        [sys.executable, "-m", "vault.cli", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else vault_env(home),
        timeout=timeout,
    )
    if check and r.returncode != 0:
        raise AssertionError(f"vault {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def start_vault_up(home: Path, port: int, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`vault up --port PORT ARGS` on ``home`` (initialised), in the background, once its state
    file says it is ready; its stderr goes to ``home/up.log``."""
    full_env = {**vault_env(home), **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vault.cli", "up", "--port", str(port), *args],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=open(home / "up.log", "wb"),  # noqa: SIM115
    )
    deadline = time.time() + 90
    while time.time() < deadline and not (home / "run/state.json").exists():
        assert proc.poll() is None, (home / "up.log").read_text()
        time.sleep(0.2)
    assert (home / "run/state.json").exists(), (home / "up.log").read_text()
    return proc


def serve(app: object, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test API did not start")
        time.sleep(0.02)
    return server, thread


@pytest.fixture
def api_server(ctx: VaultContext, settings: Settings) -> Iterator[ApiServer]:
    port = free_port()
    server, thread = serve(create_app(settings, ctx=ctx), port)
    try:
        yield ApiServer(f"http://127.0.0.1:{port}", ctx, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
