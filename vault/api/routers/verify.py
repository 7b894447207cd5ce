"""``POST /v1/verify``: by evidence id, by file (is this document in the vault?), by proof zip."""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Any

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from vault.access.principal import Principal
from vault.api.deps import JOURNAL_REFUSALS, Ctx, MaybeWho
from vault.api.upload import QueueReader, stream_form
from vault.errors import InputError, TooLarge, Unauthenticated
from vault.service import bundles, items
from vault.service.public import certificates

router = APIRouter(prefix="/v1", tags=["verification"], dependencies=[JOURNAL_REFUSALS])

MAX_BUNDLE = 2 * 1024**3
MAX_FILE = 64 * 1024**3


class VerifyById(BaseModel):
    evidence_id: str = Field(min_length=1, max_length=40)


class Check(BaseModel):
    name: str
    ok: bool
    detail: str


class VerifyResult(BaseModel):
    valid: bool
    status: str
    item: str | None = None
    checks: list[Check]
    info: dict[str, Any] = {}
    rule: str | None = None
    certificates: dict[str, list[dict[str, Any]]] | None = None
    sha256: str | None = None
    items: list[dict[str, Any]] | None = None
    note: str | None = None


_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": VerifyById.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "bundle": {"type": "string", "format": "binary", "description": "a proof folder as zip"},
                        "file": {"type": "string", "format": "binary", "description": "a document to look up"},
                    },
                }
            },
        },
    }
}


def _short_certs(ctx: Any, who: Principal | None) -> dict[str, list[dict[str, Any]]]:
    doc = certificates(ctx, who).as_json()
    return {
        k: [{f: c[f] for f in ("subject", "sha256", "not_after", "role")} for c in v]
        for k, v in doc.items()
        if k not in ("seal_fingerprints", "checkpoint_key")  # not certificates; /v1/certificates has them
    }


@router.post("/verify", openapi_extra=_BODY, response_model=VerifyResult, response_model_exclude_none=True)
async def verify(request: Request, ctx: Ctx, who: MaybeWho) -> dict[str, Any]:
    """JSON ``{"evidence_id"}`` (a key is needed), multipart ``file`` (a digest lookup: an
    auditor, org_admin or legal key) or multipart ``bundle`` (a proof zip: no key needed; it is
    checked against this vault's anchors and batch roots)."""
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype == "application/json":
        if who is None:
            raise Unauthenticated("an API key is required to verify by id")
        try:
            body = VerifyById.model_validate_json(await request.body())
        except ValueError as e:
            raise InputError('expected {"evidence_id": "..."}', detail=str(e)[:300]) from None
        report = await anyio.to_thread.run_sync(items.verify, ctx, who, body.evidence_id)
        return {**report.as_json(), "certificates": _short_certs(ctx, who)}
    if ctype != "multipart/form-data":
        raise InputError("send JSON {'evidence_id'} or a multipart form with 'bundle' or 'file'")
    loop = asyncio.get_running_loop()

    def start(fields: dict[str, str], part: str, filename: str | None, reader: QueueReader) -> asyncio.Future[Any]:
        if part == "bundle":
            return loop.run_in_executor(request.app.state.executor, _read_bundle, reader)
        if who is None:
            raise Unauthenticated("an API key is required to look a document up", detail="bundles need none")
        return loop.run_in_executor(request.app.state.executor, _spool_file, reader)

    parts = frozenset({"bundle", "file"})
    got: dict[str, str] = {}

    def tracking(fields: dict[str, str], part: str, filename: str | None, reader: QueueReader) -> asyncio.Future[Any]:
        got["part"] = part
        return start(fields, part, filename, reader)

    _fields, result = await stream_form(
        request.stream(), request.headers.get("content-type"), tracking, max_body=MAX_FILE, file_parts=parts
    )
    if result is None:
        raise InputError("the form has no 'bundle' or 'file' part")
    if got["part"] == "bundle":
        try:
            with open(result, "rb") as f:
                doc = await anyio.to_thread.run_sync(bundles.verify_zip, ctx, who, f)
        finally:
            os.unlink(result)
        return doc.as_json()
    assert who is not None
    try:
        found = await anyio.to_thread.run_sync(items.verify_file, ctx, who, result)
    finally:
        result.close()
    return {**found.as_json(), "certificates": _short_certs(ctx, who)}


def _read_bundle(reader: QueueReader) -> str:
    """Spool the zip to a private temporary file (a zip is read from its end)."""
    fd, path = tempfile.mkstemp(prefix="vault-bundle-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as f:
            size = 0
            while chunk := reader.read(1 << 20):
                size += len(chunk)
                if size > MAX_BUNDLE:
                    raise TooLarge("the bundle is larger than 2 GiB")
                f.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return path


def _spool_file(reader: QueueReader) -> tempfile.SpooledTemporaryFile[bytes]:
    """Keep the looked-up document (in memory up to 16 MiB, then in a private temporary file
    that is gone once closed): erasable items are matched by salted digests, one per
    candidate, which needs the content again after the plain SHA-256."""
    f: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - the caller closes it
        max_size=16 << 20, prefix="vault-lookup-"
    )
    try:
        while chunk := reader.read(1 << 20):
            f.write(chunk)
    except BaseException:
        f.close()
        raise
    f.seek(0)
    return f
