"""Liveness, readiness and metrics (no key: they reveal no evidence)."""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vault.api.deps import Ctx
from vault.service.health import check

router = APIRouter(tags=["health"])
#: how long a TSA answer stands for /readyz
TSA_CHECK_SECONDS = 60.0


@router.get("/healthz", response_class=PlainTextResponse, summary="Liveness: the process answers")
def healthz() -> str:
    return "ok"


@router.get(
    "/readyz",
    summary="Readiness: object store, index, TSA and batcher (503 when one fails)",
    responses={503: {"description": "a component does not answer"}},
)
async def readyz(request: Request, ctx: Ctx) -> Any:
    """The TSA is asked for a real token at most once a minute (a paid TSA bills each one); in
    between, its last answer is repeated, marked with its age."""
    state = request.app.state
    last: tuple[float, dict[str, Any]] | None = getattr(state, "tsa_check", None)
    fresh = last is None or time.monotonic() - last[0] > TSA_CHECK_SECONDS
    health = await anyio.to_thread.run_sync(lambda: check(ctx.settings, ctx, stamp_token=fresh))
    doc = health.as_json()
    if fresh and "tsa" in doc["checks"]:
        state.tsa_check = (time.monotonic(), doc["checks"]["tsa"])
    elif last is not None:
        doc["checks"]["tsa"] = {**last[1], "detail": f"{last[1]['detail']} ({time.monotonic() - last[0]:.0f} s ago)"}
        doc["ok"] = all(c["ok"] for c in doc["checks"].values())
        if not doc["ok"] and doc.get("cause") is None:
            doc["cause"] = "tsa: " + str(last[1]["detail"])
    return JSONResponse(doc, status_code=200 if doc["ok"] else 503)


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
