"""Liveness, readiness and metrics (no key: they reveal no evidence)."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vault.api.deps import Ctx
from vault.service.health import check

router = APIRouter(tags=["health"])


@router.get("/healthz", response_class=PlainTextResponse, summary="Liveness: the process answers")
def healthz() -> str:
    return "ok"


@router.get(
    "/readyz",
    summary="Readiness: object store, index, TSA and batcher (503 when one fails)",
    responses={503: {"description": "a component does not answer"}},
)
async def readyz(ctx: Ctx) -> Any:
    health = await anyio.to_thread.run_sync(lambda: check(ctx.settings, ctx))
    return JSONResponse(health.as_json(), status_code=200 if health.ok else 503)


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
