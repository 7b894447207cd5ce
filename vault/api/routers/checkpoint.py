"""The checkpoint log (no key needed): signed checkpoints as C2SP signed notes, consistency
proofs between two of them and inclusion proofs of a batch (docs/long-term.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from vault.api.deps import Ctx, MaybeWho
from vault.checkpoint.log import CONTENT_TYPE
from vault.service import checkpoints

router = APIRouter(prefix="/v1", tags=["public"])

Size = Annotated[int, Query(ge=1, le=2**62)]


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    summary="The newest signed checkpoint (C2SP tlog-checkpoint signed note; no key needed)",
)
def latest(ctx: Ctx, who: MaybeWho) -> PlainTextResponse:
    return PlainTextResponse(checkpoints.latest(ctx, who), media_type=CONTENT_TYPE)


@router.get(
    "/checkpoint/{size}",
    response_class=PlainTextResponse,
    summary="The signed checkpoint of a tree size (a size after each batch; no key needed)",
)
def at_size(ctx: Ctx, who: MaybeWho, size: int = Path(ge=1, le=2**62)) -> PlainTextResponse:
    return PlainTextResponse(checkpoints.at_size(ctx, who, size), media_type=CONTENT_TYPE)


@router.get(
    "/consistency",
    summary="RFC 6962 consistency proof between two published checkpoints (no key needed)",
)
def consistency(
    ctx: Ctx,
    who: MaybeWho,
    old: Annotated[int, Query(alias="from", ge=1, le=2**62)],
    new: Annotated[int, Query(alias="to", ge=1, le=2**62)],
) -> dict[str, Any]:
    return checkpoints.consistency(ctx, who, old, new).as_json()


@router.get(
    "/inclusion",
    summary="RFC 6962 audit path of a batch's batch.json in a published checkpoint (no key needed)",
)
def inclusion(ctx: Ctx, who: MaybeWho, batch: Size, size: Size) -> dict[str, Any]:
    return checkpoints.inclusion(ctx, who, batch, size).as_json()
