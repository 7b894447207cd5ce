"""The HTTP API for tests: an app over the test's own vault, served by a real uvicorn on a
free loopback port (``api_server``), and keys made through the real use case."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

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
