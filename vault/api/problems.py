"""RFC 9457 problem documents: one stable ``type`` per error class of ``vault.errors``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vault import errors
from vault.errors import VaultError

log = logging.getLogger("vault.api")
MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "/problems/"

#: every problem type the API answers with, for docs/api.md and GET /problems/{code}
TYPES: dict[str, tuple[int, str, str]] = {}
for _cls in [getattr(errors, n) for n in dir(errors)]:
    if isinstance(_cls, type) and issubclass(_cls, VaultError):
        TYPES[_cls.code] = (_cls.http_status, _cls.title, (_cls.__doc__ or "").strip())
TYPES["http"] = (400, "HTTP error", "A request the HTTP layer refused (unknown route, method not allowed...).")
TYPES["internal"] = (500, "Internal error", "A bug: the request changed nothing that was acknowledged.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


def problem(status: int, code: str, title: str, detail: str | None, instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_PREFIX + code, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    headers = {"WWW-Authenticate": 'Bearer realm="vault"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def vault_problem(e: VaultError, path: str) -> JSONResponse:
    return problem(e.http_status, e.code, e.title, str(e), path)


def install(app: FastAPI) -> None:
    @app.exception_handler(VaultError)
    async def _vault(request: Request, e: VaultError) -> JSONResponse:
        if e.http_status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, e)
        return vault_problem(e, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, e: RequestValidationError) -> JSONResponse:
        parts = []
        for err in e.errors()[:5]:
            where = ".".join(str(x) for x in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return problem(422, "invalid-input", "Invalid input", "; ".join(parts), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
        if e.status_code == 400:  # a body FastAPI could not parse (not UTF-8, not JSON): bad input
            return problem(422, "invalid-input", "Invalid input", str(e.detail), request.url.path)
        code = {404: "not-found", 405: "http", 413: "too-large"}.get(e.status_code, "http")
        title = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}.get(e.status_code, "HTTP error")
        return problem(e.status_code, code, title, str(e.detail) if e.detail else None, request.url.path)

    @app.exception_handler(SQLAlchemyError)
    async def _index(request: Request, e: SQLAlchemyError) -> JSONResponse:
        log.warning("index error on %s %s: %s", request.method, request.url.path, type(e).__name__)
        return problem(503, "index", "Index unavailable", "the index does not answer", request.url.path)

    @app.exception_handler(Exception)
    async def _bug(request: Request, e: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal", "Internal error", f"unexpected {type(e).__name__}", request.url.path)


#: documented on every route, so that clients (and schemathesis) know the problem shapes
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": desc, "content": {MEDIA_TYPE: {}}}
    for status, desc in (
        (401, "No API key, or an unknown, expired or revoked one"),
        (403, "The key's role may not do this"),
        (404, "Not found (or another tenant's)"),
        (409, "Conflicts with recorded state"),
        (413, "Payload too large"),
        (422, "Invalid input"),
        (500, "Internal error"),
        (502, "A time-stamping authority answered wrongly"),
        (503, "Object storage, the index or the TSAs do not answer"),
    )
}
