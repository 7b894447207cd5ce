"""What the vault publishes: anchors (public) and sealed batches (any key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path

from vault.api.deps import JOURNAL_CALL, Ctx, MaybeWho, Who
from vault.service import public

router = APIRouter(prefix="/v1", tags=["public"])


@router.get("/certificates", summary="Sealing and TSA anchors, with SHA-256 fingerprints (no key needed)")
def certificates(ctx: Ctx, who: MaybeWho) -> dict[str, Any]:
    return public.certificates(ctx, who).as_json()


@router.get(
    "/batches/{seq}", dependencies=[JOURNAL_CALL], summary="A sealed batch as stored: root, previous root, seal, token"
)
def batch(ctx: Ctx, who: Who, seq: int = Path(ge=1, le=2**62)) -> dict[str, Any]:
    return public.batch(ctx, who, seq).as_json()
