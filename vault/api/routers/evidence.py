"""``/v1/evidence``: deposit (streamed), read back, content, proof zip."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from vault.api.deps import JOURNAL_REFUSALS, Ctx, Who
from vault.api.upload import QueueReader, stream_form
from vault.api.zipfolder import folder_as_zip
from vault.errors import InputError, TooLarge
from vault.evidence.kinds import RECORD_KINDS, parse_kind
from vault.service import deposit as deposits
from vault.service import items

router = APIRouter(prefix="/v1/evidence", tags=["evidence"], dependencies=[JOURNAL_REFUSALS])

#: a whole request body; payloads are limited per kind below it (vault.service.deposit)
MAX_BODY = 65 * 1024**3

_DEPOSIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["session", "kind", "file"],
                    "properties": {
                        "session": {"type": "string", "description": "support session id"},
                        "kind": {
                            "type": "string",
                            "enum": [
                                "session_log",
                                "session_recording",
                                "signed_document",
                                "connection_metadata",
                                "transaction_proof",
                                "request",
                            ],
                        },
                        "purpose": {"type": "string", "description": "retention purpose (default per kind)"},
                        "subject": {"type": "string", "description": "data subject the item is about"},
                        "metadata": {"type": "string", "description": "JSON object of personal fields (file kinds)"},
                        "tenant": {"type": "string", "description": "tenant (default: the key's)"},
                        "file": {"type": "string", "format": "binary", "description": "the payload, sent last"},
                    },
                },
                "encoding": {"file": {"contentType": "application/octet-stream"}},
            }
        },
    },
    "parameters": [
        {
            "name": "X-Content-SHA256",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "SHA-256 (hex) of the payload; a mismatch is 422 and nothing is kept",
        },
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": "1-200 printable ASCII characters: a retry returns the original item(s) and receipt(s) "
            "(Idempotent-Replayed: true); the key used for another deposit is 409 idempotency_conflict",
        },
        {
            "name": "Vault-Signature",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 4096},
            "description": "base64url(statement).base64url(signature) by a registered device key "
            "(docs/api.md, Device signatures); a bad one is refused and nothing is kept",
        },
    ],
}


def _meta(fields: dict[str, str]) -> dict[str, Any] | None:
    raw = fields.get("metadata")
    if raw is None or raw.strip() == "":
        return None
    if not deposits.json_depth_ok(raw):
        raise InputError("metadata is nested too deeply")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise InputError("metadata must be a JSON object", detail=str(e)) from e
    if not isinstance(meta, dict):
        raise InputError("metadata must be a JSON object of personal fields")
    return meta


@router.post("", status_code=201, openapi_extra=_DEPOSIT_BODY, summary="Deposit evidence (multipart, streamed)")
async def deposit(request: Request, ctx: Ctx, who: Who) -> JSONResponse:
    """Fields first, then ``file``. A file is streamed into the vault (encrypted, WORM); a
    ``connection_metadata`` file is records (JSON object, array or JSON lines) that share
    segments with concurrent callers. 201 once durable, with the signed receipt(s)."""
    expected = request.headers.get("x-content-sha256")
    if expected is not None:
        expected = deposits.check_sha256(expected)
    once: dict[str, Any] = {
        "idempotency_key": request.headers.get("idempotency-key"),
        "client_signature": request.headers.get("vault-signature"),
    }
    loop = asyncio.get_running_loop()
    metrics = request.app.state.metrics

    def start(fields: dict[str, str], _part: str, filename: str | None, reader: QueueReader) -> asyncio.Future[Any]:
        for name in ("session", "kind"):
            if not fields.get(name):
                raise InputError(f"the form field {name!r} is required, before the 'file' part")
        unknown = set(fields) - {"session", "kind", "purpose", "subject", "metadata", "tenant"}
        if unknown:
            raise InputError("unknown form fields", detail=", ".join(sorted(unknown))[:200])
        common: dict[str, Any] = {
            "tenant": fields.get("tenant") or who.tenant or "",
            "session": fields["session"],
            "kind": fields["kind"],
            "purpose": fields.get("purpose") or None,
            "subject": fields.get("subject") or None,
        }
        kind = deposits.depositable(fields["kind"])
        meta = _meta(fields)
        if kind in RECORD_KINDS:

            def run_records() -> Any:
                data = reader.read(deposits.size_limit(kind) + 1)
                if len(data) > deposits.size_limit(kind):
                    raise TooLarge("the record file is larger than its kind allows")
                if expected is not None and hashlib.sha256(data).hexdigest() != expected:
                    raise InputError("the payload's SHA-256 is not the one announced")
                recs = deposits.parse_records(data)
                return deposits.deposit_records(
                    ctx, who, recs, meta=meta, packer=request.app.state.packer, raw=data, **common, **once
                )

            return loop.run_in_executor(request.app.state.executor, run_records)

        def run_file() -> Any:
            return deposits.deposit_file(ctx, who, reader, meta=meta, expected_sha256=expected, **common, **once)  # type: ignore[arg-type]

        return loop.run_in_executor(request.app.state.executor, run_file)

    fields, result = await stream_form(request.stream(), request.headers.get("content-type"), start, max_body=MAX_BODY)
    if result is None:
        raise InputError("the form has no 'file' part")
    kind = parse_kind(fields["kind"]).value
    receipts = result if isinstance(result, list) else [result]
    again = any(deposits.replayed(r) for r in receipts)
    for r in receipts if not again else []:
        metrics.deposits.labels(kind=kind).inc()
        metrics.deposit_bytes.labels(kind=kind).inc(json.loads(r.evidence).get("size", 0))
    if isinstance(result, list):
        doc = deposits.receipts_result(result).as_json()
    else:
        doc = {"id": result.item_id, "receipt": result.as_json()}
    headers = {"Location": f"/v1/evidence/{doc['id']}"}
    if again:  # the original answer again (same status, as the first time): nothing new was deposited
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(doc, status_code=201, headers=headers)


@router.get("/{item_id}", summary="An item's fields (as corrected), retention and state")
def show(item_id: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    return items.show_item(ctx, who, item_id).as_json()


@router.get(
    "/{item_id}/content",
    summary="The payload, decrypted and streamed",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def content(item_id: str, ctx: Ctx, who: Who) -> StreamingResponse:
    c = items.item_content(ctx, who, item_id)
    first = next(c.chunks, b"")  # errors (a missing version, a destroyed key) before the 200

    def body() -> Iterator[bytes]:
        yield first
        yield from c.chunks

    headers = {"Content-Disposition": f'attachment; filename="{c.item_id}"'}
    return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)


@router.get(
    "/{item_id}/proof",
    summary="The proof folder as a zip (offline verification with openssl)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
async def proof(item_id: str, ctx: Ctx, who: Who) -> StreamingResponse:
    return await folder_as_zip(
        lambda out: items.proof_folder(ctx, who, item_id, out), top=item_id, filename=f"{item_id}-proof.zip"
    )
