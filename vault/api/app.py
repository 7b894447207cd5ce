"""``create_app(settings)``: the vault's HTTP API, built from settings (never at import time),
so that tests, ``vault up`` and each worker process get their own."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vault import __version__
from vault.api import problems
from vault.api.metrics import Metrics
from vault.api.routers import admin, checkpoint, devices, evidence, exports, health, page, public, tsa, uploads, verify
from vault.api.routers.page import STATIC
from vault.config import Settings
from vault.context import VaultContext
from vault.timestamp.responder import TimeStampResponder

log = logging.getLogger("vault.api")

DESCRIPTION = """Evidence vault: deposit evidence (hashed, encrypted, WORM-stored, sealed and RFC 3161
time-stamped), read it back, verify it, and manage tenants, holds, retention, subject rights and
API keys. Authenticate with `Authorization: Bearer <key>` (`vault admin key create`). Errors are
RFC 9457 `application/problem+json`. See docs/api.md."""


def create_app(
    settings: Settings,
    *,
    ctx: VaultContext | None = None,
    tsa_responder: TimeStampResponder | None = None,
) -> FastAPI:
    """The API over ``settings``; ``ctx`` shares an open context (tests, ``vault up`` with one
    process); ``tsa_responder`` also serves the built-in TSA on ``POST /tsa``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from vault.batch.sealer import pending_count
        from vault.ingest.records import RecordPacker

        own = ctx is None
        c = ctx if ctx is not None else VaultContext.open(settings)
        app.state.ctx = c
        app.state.packer = RecordPacker(c)
        # deposits and verifications block on storage and the index: their own pool, wide
        # enough that concurrent record calls meet in one group commit
        app.state.executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="vault-io")
        app.state.metrics.pending.set_function(lambda: float(pending_count(c)))
        try:
            yield
        finally:
            app.state.executor.shutdown(wait=True)
            app.state.packer.close()
            if own:
                c.close()

    app = FastAPI(
        title="Evidence vault",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=problems.COMMON_RESPONSES,
    )
    app.state.tsa = tsa_responder
    app.state.metrics = Metrics(lambda: 0.0)
    problems.install(app)
    routers = (evidence.router, uploads.router, verify.router, public.router, admin.router, health.router, page.router)
    for r in (*routers, devices.router, exports.router, checkpoint.router):
        app.include_router(r)
    if tsa_responder is not None:
        app.include_router(tsa.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.add_middleware(_CountRequests, metrics=app.state.metrics)
    return app


class _CountRequests:
    """Counts requests by route and status and adds ``X-Content-Type-Options: nosniff``. A
    plain ASGI middleware: ``@app.middleware("http")`` (BaseHTTPMiddleware) runs each request
    in an extra task and relays the request body through a stream, which cost a sixth of the
    event loop's CPU per small deposit (docs/performance.md)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_counted)
        path = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.requests.labels(scope["method"], path, str(status)).inc()
        log.debug("%s %s %d %.1f ms", scope["method"], path, status, (time.perf_counter() - started) * 1e3)


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory vault.api.app:app_from_env`` (the worker processes of
    ``vault up --workers N``): settings from ``$VAULT_HOME``, addresses from the running vault."""
    from vault.config import load_settings

    settings = load_settings()
    responder = None
    if os.environ.get("VAULT_API_SERVE_TSA") == "1":
        from vault.clock import clock_from_env
        from vault.keys.pki import load_cert, load_private_key

        responder = TimeStampResponder(
            load_cert(settings.tsa_cert),
            load_private_key(settings.tsa_key),  # type: ignore[arg-type]
            clock=clock_from_env().now,
        )
    return create_app(settings, tsa_responder=responder)


__all__: list[Any] = ["app_from_env", "create_app"]
