"""The auditor's verification page (static, served by the vault: no CDN, no build step), and
the description of each problem type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from vault.api.problems import TYPES
from vault.errors import NotFound

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(tags=["pages"])


@router.get("/verify", response_class=FileResponse, summary="The verification page for people")
def verify_page() -> FileResponse:
    return FileResponse(
        STATIC / "verify.html",
        media_type="text/html; charset=utf-8",
        headers={
            # everything the page needs is served by the vault itself; nothing may frame it
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'self'",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/problems/{code}", summary="What a problem type means")
def problem_type(code: str) -> dict[str, Any]:
    if code not in TYPES:
        raise NotFound("no such problem type", detail=code[:64])
    status, title, doc = TYPES[code]
    return {"type": f"/problems/{code}", "status": status, "title": title, "description": doc}
