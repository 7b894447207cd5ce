"""The built-in RFC 3161 responder on ``POST /tsa`` (RFC 3161 section 3.4), when ``vault up``
runs it in the same server as the API."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response

from vault.timestamp.server import MAX_BODY, handle_tsa_request

router = APIRouter(tags=["tsa"])


_TEXT = {"text/plain": {"schema": {"type": "string"}}}


@router.post(
    "/tsa",
    summary="RFC 3161 time-stamp protocol (application/timestamp-query)",
    response_class=Response,
    responses={
        200: {
            "description": "a TimeStampResp (a refusal, too, is a DER reply)",
            "content": {"application/timestamp-reply": {}},
        },
        413: {"description": "request too large", "content": _TEXT},
        415: {"description": "not application/timestamp-query", "content": _TEXT},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/timestamp-query": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def tsa(request: Request) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return Response(b"request too large\n", status_code=413, media_type="text/plain")
    status, ctype, reply = await anyio.to_thread.run_sync(
        handle_tsa_request, request.app.state.tsa, body, request.headers.get("content-type")
    )
    return Response(reply, status_code=status, media_type=ctype)
