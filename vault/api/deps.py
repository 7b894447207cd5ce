"""Shared dependencies: the context, and the principal of the request's API key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from vault.access.apikeys import authenticate
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.errors import Unauthenticated, VaultError

# The dependencies are ``async`` on purpose: FastAPI runs a plain ``def`` dependency in a
# worker thread, and each of those hand-overs (event loop -> thread -> event loop) cost more
# CPU than the dependency itself (bench/http_throughput.py, docs/performance.md). Only the
# database look-ups (the key, a journal entry) go to a thread.


async def get_ctx(request: Request) -> VaultContext:
    return _ctx(request)


def _ctx(request: Request) -> VaultContext:
    ctx: VaultContext = request.app.state.ctx
    return ctx


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <key>'")
    return token.strip()


#: declares the bearer scheme in the OpenAPI document (the header is parsed by :func:`_bearer`)
BEARER = HTTPBearer(auto_error=False, description="An API key: `vault admin key create`")


async def maybe_principal(
    request: Request, _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None
) -> Principal | None:
    """The key's principal, or None without a key (public routes); a bad key is 401 anyway.
    Authenticated once per request (the result is kept on the request)."""
    if "principal" in request.state._state:
        cached: Principal | None = request.state.principal
        return cached
    token = _bearer(request)
    who = None
    if token is not None:
        ctx = _ctx(request)
        who = await run_in_threadpool(authenticate, ctx.sessions, token, ctx.now())
    request.state.principal = who
    return who


async def principal(
    request: Request, _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None
) -> Principal:
    who = await maybe_principal(request)
    if who is None:
        raise Unauthenticated("an API key is required", detail="send 'Authorization: Bearer <key>'")
    return who


Ctx = Annotated[VaultContext, Depends(get_ctx)]
Who = Annotated[Principal, Depends(principal)]
MaybeWho = Annotated[Principal | None, Depends(maybe_principal)]


def _record_call(request: Request, who: Principal, status: int, error: str | None = None) -> None:
    from vault.journal.log import record

    ctx = _ctx(request)
    route = getattr(request.scope.get("route"), "path", request.url.path)
    details: dict[str, Any] = {"method": request.method, "route": route, "status": status}
    if error:
        details["error"] = error
    with ctx.sessions() as s:
        record(s, ctx, who, "api_call", tenant=who.tenant, **details)
        s.commit()


class JournalCall:
    """Journal an authenticated API call under its key: every refused call, and (``always``)
    the successful calls whose use case does not journal itself (lists, reads of public
    documents, seal, recover). Deposits, item reads and changes journal their own entries."""

    def __init__(self, *, always: bool) -> None:
        self.always = always

    async def __call__(self, request: Request, who: MaybeWho) -> AsyncIterator[None]:
        try:
            yield
        except VaultError as e:
            if who is not None and not isinstance(e, Unauthenticated):
                await run_in_threadpool(_record_call, request, who, e.http_status, e.code)
            raise
        if self.always and who is not None:
            await run_in_threadpool(_record_call, request, who, 200)


#: add to a route: ``dependencies=[JOURNAL_CALL]`` (lists, reads) or ``[JOURNAL_REFUSALS]``
JOURNAL_CALL = Depends(JournalCall(always=True))
JOURNAL_REFUSALS = Depends(JournalCall(always=False))
