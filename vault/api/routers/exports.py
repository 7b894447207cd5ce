"""``/v1/exports``: litigation export bundles (legal role only; docs/export.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from vault.api.deps import JOURNAL_REFUSALS, Ctx, Who
from vault.api.problems import problem
from vault.export.selection import Selection
from vault.service import exports

router = APIRouter(prefix="/v1/exports", tags=["exports"], dependencies=[JOURNAL_REFUSALS])


class ExportBody(BaseModel):
    tenant: str | None = Field(default=None, min_length=1, max_length=64, description="default: the key's tenant")
    case: str = Field(min_length=1, max_length=200)
    sessions: list[str] = Field(default_factory=list, max_length=10_000)
    items: list[str] = Field(default_factory=list, max_length=10_000)
    from_: dt.datetime | None = Field(default=None, alias="from", description="received on or after")
    to: dt.datetime | None = Field(default=None, description="received on or before")
    hold: str | None = Field(
        default=None, min_length=1, max_length=200, description="export what this case's holds cover"
    )
    disclose: list[str] = Field(default_factory=list, max_length=64, description="fields whose values are disclosed")


@router.post("", status_code=202, summary="Start a litigation export (legal)")
def start(body: ExportBody, ctx: Ctx, who: Who) -> JSONResponse:
    sel = Selection(
        tenant=body.tenant or who.tenant or "",
        case=body.case,
        sessions=tuple(body.sessions),
        items=tuple(body.items),
        since=body.from_,
        until=body.to,
        hold=body.hold,
        disclose=tuple(body.disclose),
    )
    doc = exports.start(ctx, who, sel).as_json()
    return JSONResponse(doc, status_code=202, headers={"Location": str(doc["href"]), "Retry-After": "2"})


@router.get(
    "/{export_id}",
    summary="The export's progress (202), then its zip (200)",
    response_model=None,
    responses={200: {"content": {"application/zip": {}}}, 202: {"description": "still running"}},
)
def fetch(export_id: str, ctx: Ctx, who: Who) -> Any:
    state, path = exports.status(ctx, who, export_id)
    if state.get("state") == "failed":
        e = state.get("error") or {}
        return problem(
            int(e.get("status", 500)), str(e.get("code", "vault-error")), str(e.get("title")), e.get("detail")
        )
    if path is None:
        return JSONResponse(
            {k: state.get(k) for k in ("id", "state", "done", "total", "case")},
            status_code=202,
            headers={"Retry-After": "2"},
        )

    def body() -> Iterator[bytes]:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    return StreamingResponse(
        body(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{export_id}.zip"',
            "Content-Length": str(path.stat().st_size),
        },
    )
