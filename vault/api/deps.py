"""Shared dependencies: the context, and the principal of the request's API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from vault.access.apikeys import authenticate
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.errors import Unauthenticated


def get_ctx(request: Request) -> VaultContext:
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


def maybe_principal(request: Request) -> Principal | None:
    """The key's principal, or None without a key (public routes); a bad key is 401 anyway."""
    token = _bearer(request)
    if token is None:
        return None
    ctx = get_ctx(request)
    who = authenticate(ctx.sessions, token, ctx.now())
    request.state.principal = who
    return who


def principal(request: Request) -> Principal:
    who = maybe_principal(request)
    if who is None:
        raise Unauthenticated("an API key is required", detail="send 'Authorization: Bearer <key>'")
    return who


Ctx = Annotated[VaultContext, Depends(get_ctx)]
Who = Annotated[Principal, Depends(principal)]
MaybeWho = Annotated[Principal | None, Depends(maybe_principal)]
