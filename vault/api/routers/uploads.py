"""``/v1/uploads``: resumable uploads over tus 1.0 (core, creation, termination, checksum,
expiration), for a technician's large files over bad connections.

https://tus.io/protocols/resumable-upload. An upload belongs to the API key that created it
(another key, of this tenant or another, gets 404) and to that key's tenant whatever its
metadata says. Its parts wait encrypted in ``$VAULT_HOME/uploads/`` (``vault.uploads.staging``);
the PATCH that brings the last byte streams the whole into one deposit
(``vault.service.deposit.deposit_file``) and answers ``204`` with ``Evidence-Id``.
Why not a library: ADR 0012.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import email.utils
import functools
import hashlib
import inspect
import io
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any, BinaryIO, cast

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal
from vault.api import problems
from vault.api.deps import JOURNAL_REFUSALS, Ctx, Who
from vault.context import VaultContext
from vault.errors import (
    ChecksumMismatch,
    Conflict,
    Gone,
    InputError,
    NotFound,
    PreconditionFailed,
    TooLarge,
    UnsupportedMediaType,
    VaultError,
)
from vault.evidence.canonical import canonical
from vault.evidence.kinds import RECORD_KINDS
from vault.ingest.common import validate
from vault.keys.epochs import current_epoch
from vault.service import deposit as deposits
from vault.tenants.registry import get_tenant
from vault.uploads import metadata as tus_metadata
from vault.uploads.staging import RECORD, TTL, RecordWriter, Staging, UploadState, iso, parse_time

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,checksum,expiration"
#: ``Upload-Checksum`` algorithms (sha1 because it is tuspy's default; sha256 is what to send)
CHECKSUMS: dict[str, Callable[[], Any]] = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}
#: metadata keys read; others (``filetype``, ``name``... that tus clients add) are kept, unused.
#: ``tenant`` is never read: the upload goes to the key's tenant.
KEYS = ("session", "kind", "purpose", "subject", "filename", "idempotency_key", "sha256", "signature", "meta")
#: an expiry sweep runs at most this often per process, on a request to /v1/uploads
SWEEP_EVERY = 60.0
MAX_IDEMPOTENCY_KEY = 200


class TusRoute(APIRoute):
    """Every answer of /v1/uploads carries ``Tus-Resumable`` (problem documents too)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except VaultError as e:
                response = problems.vault_problem(e, request.url.path)
                if isinstance(e, PreconditionFailed):
                    response.headers["Tus-Version"] = TUS_VERSION
            response.headers["Tus-Resumable"] = TUS_VERSION
            return response

        return handler


def _problem(status: int, text: str) -> dict[str, Any]:
    return {"description": text, "model": problems.Problem, "content": {problems.MEDIA_TYPE: {}}}


_RESPONSES: dict[int | str, dict[str, Any]] = {
    410: _problem(410, "The upload expired, or a KEK rotation destroyed its key: start again"),
    412: _problem(412, "Tus-Resumable is missing or not 1.0.0"),
    415: _problem(415, "A PATCH body must be application/offset+octet-stream"),
    423: _problem(423, "Another request is writing to this upload"),
    460: _problem(460, "The body does not match its Upload-Checksum: discarded"),
}
_TUS_HEADER = {
    "name": "Tus-Resumable",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "enum": [TUS_VERSION]},
}

router = APIRouter(
    prefix="/v1/uploads",
    tags=["uploads"],
    dependencies=[JOURNAL_REFUSALS],
    route_class=TusRoute,
    responses=_RESPONSES,
)


# -- helpers -------------------------------------------------------------------------------


def _in_executor(request: Request, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """``fn(*args)`` on the API's executor (blocking disk, key and store work off the event loop)."""
    return asyncio.get_running_loop().run_in_executor(request.app.state.executor, fn, *args)


def _staging(ctx: VaultContext) -> Staging:
    return Staging(ctx.settings.home / "uploads", ctx.kek)


def _http_date(t: dt.datetime) -> str:
    return email.utils.format_datetime(t.astimezone(dt.UTC), usegmt=True)


def _check_version(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise PreconditionFailed(
            "this server speaks tus 1.0.0", detail=f"Tus-Resumable: {request.headers.get('tus-resumable')!r}"
        )


def _int_header(request: Request, name: str) -> int:
    raw = request.headers.get(name)
    if raw is None:
        raise InputError(f"the header {name} is required")
    if not raw.strip().isdigit() or len(raw.strip()) > 20:
        raise InputError(f"{name} must be a non-negative integer", detail=repr(raw)[:40])
    return int(raw)


def _checksum(value: str | None) -> tuple[Any, bytes] | None:
    """(hash object, expected digest) of ``Upload-Checksum: <algorithm> <base64>``."""
    if value is None:
        return None
    algo, _, b64 = value.strip().partition(" ")
    if algo not in CHECKSUMS:
        raise InputError("unsupported Upload-Checksum algorithm", detail=f"{algo!r}; use sha256")
    try:
        expected = base64.b64decode(b64.strip(), validate=True)
    except ValueError:
        raise InputError("Upload-Checksum: the digest is not base64") from None
    h = CHECKSUMS[algo]()
    if len(expected) != h.digest_size:
        raise InputError("Upload-Checksum: the digest has the wrong length")
    return h, expected


def _deposit_args(fields: dict[str, str], tenant: str) -> dict[str, Any]:
    """The deposit's arguments from the metadata, validated (so that a bad upload is refused
    when it is created, not after its last byte)."""
    for name in ("session", "kind"):
        if not fields.get(name):
            raise InputError(f"Upload-Metadata must give {name!r}")
    kind = deposits.depositable(fields["kind"])
    if kind in RECORD_KINDS:
        raise InputError(f"{kind.value} is deposited as records: POST /v1/evidence")
    meta = None
    if fields.get("meta", "").strip():
        if not deposits.json_depth_ok(fields["meta"]):
            raise InputError("metadata 'meta' is nested too deeply")
        try:
            meta = json.loads(fields["meta"])
        except json.JSONDecodeError as e:
            raise InputError("metadata 'meta' must be a JSON object", detail=str(e)) from e
        if not isinstance(meta, dict):
            raise InputError("metadata 'meta' must be a JSON object of personal fields")
    args: dict[str, Any] = {
        "session": fields["session"],
        "kind": kind.value,
        "purpose": fields.get("purpose") or None,
        "subject": fields.get("subject") or None,
        "meta": meta,
    }
    validate(tenant=tenant, **args)
    if fields.get("sha256"):
        args["expected_sha256"] = deposits.check_sha256(fields["sha256"])
    key = fields.get("idempotency_key")
    if key is not None and not (
        0 < len(key) <= MAX_IDEMPOTENCY_KEY and all(0x20 < ord(c) < 0x7F or c == " " for c in key)
    ):
        raise InputError(f"an idempotency key is 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters")
    accepted = inspect.signature(deposits.deposit_file).parameters
    for meta_key, param in (("idempotency_key", "idempotency_key"), ("signature", "client_signature")):
        if fields.get(meta_key) and param in accepted:
            args[param] = fields[meta_key]
    return args


def _owned(staging: Staging, upload_id: str, who: Principal) -> UploadState:
    """The upload if it is this key's; anything else is "not found"."""
    try:
        st = staging.load(upload_id)
    except NotFound:
        st = None
    if st is None or st.tenant != who.tenant or st.key_id != who.key_id:
        raise NotFound("no such upload", detail=upload_id[:40])
    return st


def _alive(staging: Staging, st: UploadState, now: dt.datetime, *, held: bool = False) -> None:
    """An unfinished upload past its expiry is removed (if nobody else holds it) and 410."""
    if not st.expired(now):
        return
    if st.evidence_id is not None:
        raise NotFound("no such upload", detail=st.id)
    if held:
        staging.remove(st.id)
    else:
        with contextlib.suppress(VaultError), staging.lock(st.id):
            staging.remove(st.id)
    raise Gone("the upload expired", detail=f"at {st.expires}; start again")


def _key(staging: Staging, st: UploadState) -> bytes:
    try:
        return staging.key(st)
    except Gone:
        staging.remove(st.id)
        raise


async def _maybe_sweep(request: Request, staging: Staging, now: dt.datetime) -> None:
    state = request.app.state
    last = getattr(state, "uploads_swept", 0.0)
    if time.monotonic() - last < SWEEP_EVERY:
        return
    state.uploads_swept = time.monotonic()
    await _in_executor(request, staging.sweep, now)


def _count(request: Request, received: int, discarded: int) -> None:
    metrics = request.app.state.metrics
    metrics.upload_bytes.inc(received)
    metrics.upload_discarded.inc(discarded)


def _deposit_headers(receipt: Any, *, replayed: bool) -> dict[str, str]:
    doc = canonical(receipt.as_json())
    headers = {
        "Evidence-Id": receipt.item_id,
        "Evidence-Receipt": base64.urlsafe_b64encode(doc).rstrip(b"=").decode(),
    }
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return headers


def _replayed(receipt: Any) -> bool:
    fn = getattr(deposits, "replayed", None)
    return bool(fn(receipt)) if fn is not None else False


def _record_deposit(request: Request, kind: str, receipt: Any, size: int) -> None:
    metrics = request.app.state.metrics
    metrics.deposits.labels(kind=kind).inc()
    metrics.deposit_bytes.labels(kind=kind).inc(size)


# -- routes --------------------------------------------------------------------------------


@router.options("", status_code=204, summary="tus discovery: version, extensions, limits (no key needed)")
def options() -> Response:
    return Response(
        status_code=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
            "Tus-Max-Size": str(max(deposits.SIZE_LIMITS.values())),
        },
    )


@router.post(
    "",
    status_code=201,
    summary="Create an upload (tus creation)",
    response_class=Response,
    responses={201: {"description": "Created: `Location` names the upload", "content": None}},
    openapi_extra={
        "parameters": [
            _TUS_HEADER,
            {"name": "Upload-Length", "in": "header", "required": True, "schema": {"type": "integer", "minimum": 0}},
            {"name": "Upload-Metadata", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}},
        ]
    },
)
async def create(request: Request, ctx: Ctx, who: Who) -> Response:
    """``Upload-Length`` (bytes, at most the kind's limit) and ``Upload-Metadata`` (``session``,
    ``kind``, optional ``purpose``, ``subject``, ``filename``, ``idempotency_key``, ``sha256``,
    ``signature``, ``meta``), each value base64. 201 with ``Location`` and ``Upload-Expires``.
    A zero-length upload is deposited at once (``Evidence-Id``)."""
    _check_version(request)
    authorize(who, Op.DEPOSIT, tenant=who.tenant)
    tenant = who.tenant or ""
    if request.headers.get("upload-defer-length") is not None:
        raise InputError("Upload-Defer-Length is not supported: send Upload-Length")
    length = _int_header(request, "upload-length")
    raw = request.headers.get("upload-metadata") or ""
    fields = tus_metadata.parse(raw)
    header_key = request.headers.get("idempotency-key")
    if header_key is not None:
        if fields.get("idempotency_key") not in (None, header_key):
            raise InputError("Idempotency-Key and the metadata's idempotency_key differ")
        if "idempotency_key" not in fields:
            fields["idempotency_key"] = header_key
            enc = base64.b64encode(header_key.encode()).decode()
            raw = f"{raw}, idempotency_key {enc}" if raw.strip() else f"idempotency_key {enc}"
    args = _deposit_args(fields, tenant)
    limit = deposits.size_limit(deposits.depositable(args["kind"]))
    if length > limit:
        raise TooLarge("the upload is larger than its kind allows", detail=f"{length} > {limit} bytes")
    staging = _staging(ctx)
    now = ctx.now()
    await _maybe_sweep(request, staging, now)
    await _in_executor(request, get_tenant, ctx.sessions, tenant)
    if length == 0:  # nothing will come: the deposit is now
        fn = functools.partial(deposits.deposit_file, ctx, who, io.BytesIO(b""), tenant=tenant, **args)
        receipt = await _in_executor(request, fn)
        _record_deposit(request, args["kind"], receipt, 0)
        headers = {"Upload-Offset": "0", **_deposit_headers(receipt, replayed=_replayed(receipt))}
        return Response(status_code=201, headers={"Location": f"/v1/evidence/{receipt.item_id}", **headers})

    def make() -> UploadState:
        with ctx.sessions() as s:
            epoch = current_epoch(s)
        return staging.create(tenant=tenant, key_id=who.key_id or "", length=length, metadata=raw, epoch=epoch, now=now)

    st = await _in_executor(request, make)
    return Response(
        status_code=201,
        headers={
            "Location": f"/v1/uploads/{st.id}",
            "Upload-Offset": "0",
            "Upload-Expires": _http_date(parse_time(st.expires)),
        },
    )


@router.head(
    "/{upload_id}",
    summary="Where an upload stands (tus core)",
    response_class=Response,
    responses={200: {"description": "`Upload-Offset`, `Upload-Length`, `Upload-Expires`", "content": None}},
    openapi_extra={"parameters": [_TUS_HEADER]},
)
async def head(upload_id: str, request: Request, ctx: Ctx, who: Who) -> Response:
    """``Upload-Offset``: the bytes the vault holds, where to resume. Once complete,
    ``Evidence-Id`` names the item (until the upload's expiry). ``Vault-Upload-Received`` and
    ``Vault-Upload-Discarded`` count the body bytes the vault read for it, and threw away."""
    _check_version(request)
    authorize(who, Op.DEPOSIT, tenant=who.tenant)
    staging = _staging(ctx)
    st = _owned(staging, upload_id, who)
    _alive(staging, st, ctx.now())
    headers = {
        "Upload-Offset": str(st.offset),
        "Upload-Length": str(st.length),
        "Upload-Expires": _http_date(parse_time(st.expires)),
        "Cache-Control": "no-store",
        "Vault-Upload-Received": str(st.received),
        "Vault-Upload-Discarded": str(st.discarded),
    }
    if st.evidence_id is not None:
        headers["Evidence-Id"] = st.evidence_id
    else:
        meta = await _in_executor(request, lambda: staging.metadata(st, _key(staging, st)))
        if meta:
            headers["Upload-Metadata"] = meta
    return Response(status_code=200, headers=headers)


@router.patch(
    "/{upload_id}",
    status_code=204,
    summary="Append bytes at the upload's offset (tus core, checksum)",
    response_class=Response,
    responses={
        204: {"description": "Appended: `Upload-Offset`; the last one: `Evidence-Id`", "content": None},
    },
    openapi_extra={
        "parameters": [
            _TUS_HEADER,
            {"name": "Upload-Offset", "in": "header", "required": True, "schema": {"type": "integer", "minimum": 0}},
            {"name": "Upload-Checksum", "in": "header", "required": False, "schema": {"type": "string"}},
        ],
        "requestBody": {
            "required": True,
            "content": {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        },
    },
)
async def patch(upload_id: str, request: Request, ctx: Ctx, who: Who) -> Response:
    """The body is appended at ``Upload-Offset`` (which must be the vault's: 409 otherwise).
    With ``Upload-Checksum: sha256 <base64>`` a mismatch is 460 and the body is discarded.
    The PATCH that brings the last byte deposits the whole: 204 with ``Evidence-Id`` and
    ``Evidence-Receipt`` (base64url of the receipt JSON), or the deposit's problem (a refused
    deposit keeps nothing: the upload is gone; a 5xx keeps the upload without this body)."""
    _check_version(request)
    authorize(who, Op.DEPOSIT, tenant=who.tenant)
    if (request.headers.get("content-type") or "").split(";")[0].strip() != "application/offset+octet-stream":
        raise UnsupportedMediaType("a PATCH body must be application/offset+octet-stream")
    offset = _int_header(request, "upload-offset")
    checksum = _checksum(request.headers.get("upload-checksum"))
    staging = _staging(ctx)
    now = ctx.now()
    st = _owned(staging, upload_id, who)
    if st.evidence_id is not None:
        if offset == st.length:  # a retry of the completing PATCH whose answer was lost
            return Response(status_code=204, headers={"Upload-Offset": str(st.length), "Evidence-Id": st.evidence_id})
        raise Conflict("the upload is complete", detail=f"it became {st.evidence_id}")
    run = functools.partial(_in_executor, request)
    with staging.lock(upload_id):
        st = _owned(staging, upload_id, who)  # as it is now that we hold it
        _alive(staging, st, now, held=True)
        if offset != st.offset:
            raise Conflict(
                "Upload-Offset is not the upload's offset", detail=f"sent {offset}, the vault has {st.offset}"
            )
        key = await run(_key, staging, st)
        writer = await run(staging.writer, st, key)
        try:
            return await _append(request, ctx, who, staging, st, key, writer, checksum)
        finally:
            writer.close()


async def _append(
    request: Request,
    ctx: VaultContext,
    who: Principal,
    staging: Staging,
    st: UploadState,
    key: bytes,
    writer: RecordWriter,
    checksum: tuple[Any, bytes] | None,
) -> Response:
    """The body of a PATCH, under the upload's lock: stage it, and deposit the whole once complete."""
    now = ctx.now()
    run = functools.partial(_in_executor, request)

    received = 0
    disconnected = False

    dropped: list[bool] = []

    def drop() -> None:
        """Throw this PATCH's bytes away, count them, keep the upload as it was (once)."""
        if dropped:
            return
        dropped.append(True)
        writer.rollback()
        st.received += received
        st.discarded += received
        staging.save(st)
        _count(request, received, received)

    try:
        buf = bytearray()
        remaining = st.length - st.offset
        try:
            async for chunk in request.stream():
                if not chunk:
                    continue
                received += len(chunk)
                if received > remaining:
                    raise TooLarge("more bytes than Upload-Length", detail=f"{remaining} bytes were left")
                if checksum is not None:
                    checksum[0].update(chunk)
                buf += chunk
                if len(buf) >= RECORD:
                    cut = len(buf) - len(buf) % RECORD
                    piece = bytes(buf[:cut])
                    del buf[:cut]
                    await run(writer.write, piece)
        except ClientDisconnect:
            disconnected = True
        if disconnected and checksum is not None:  # a part of a checked body cannot be checked
            await run(drop)
            return Response(status_code=204)
        if checksum is not None and checksum[0].digest() != checksum[1]:
            await run(drop)
            raise ChecksumMismatch(
                "the body does not match its Upload-Checksum", detail="discarded; send it again from the same offset"
            )
        if buf:
            await run(writer.write, bytes(buf))
        await run(writer.sync)
    except VaultError:
        await run(drop)
        raise
    except BaseException:
        await run(drop)
        raise

    if writer.offset < st.length or disconnected:
        st.offset, st.stored = writer.offset, writer.stored
        st.received += received
        st.patches += 1
        st.expires = max(st.expires, iso(now + TTL))
        await run(staging.save, st)
        _count(request, received, 0)
        return Response(
            status_code=204,
            headers={"Upload-Offset": str(st.offset), "Upload-Expires": _http_date(parse_time(st.expires))},
        )

    # the last byte: the whole upload becomes one deposit
    fields = tus_metadata.parse(staging.metadata(st, key))
    args = _deposit_args(fields, st.tenant)
    reader = staging.reader(st, key, stored=writer.stored)
    fn = functools.partial(deposits.deposit_file, ctx, who, cast(BinaryIO, reader), tenant=st.tenant, **args)
    try:
        receipt = await run(fn)
    except VaultError as e:
        if e.http_status < 500:  # refused (digest, signature, size...): resuming cannot fix it
            await run(staging.remove, st.id)
            _count(request, received, st.length)
        else:  # the vault failed: keep the upload, without this body (the client sends it again)
            await run(drop)
        raise
    except BaseException:
        await run(drop)
        raise
    finally:
        reader.close()
    st.received += received
    st.patches += 1
    await run(staging.complete, st, receipt.item_id)
    _count(request, received, 0)
    _record_deposit(request, args["kind"], receipt, st.length)
    headers = {"Upload-Offset": str(st.length), **_deposit_headers(receipt, replayed=_replayed(receipt))}
    return Response(status_code=204, headers=headers)


@router.delete(
    "/{upload_id}",
    status_code=204,
    summary="Abort an upload (tus termination)",
    response_class=Response,
    responses={204: {"description": "Gone, with its staged bytes", "content": None}},
    openapi_extra={"parameters": [_TUS_HEADER]},
)
async def terminate(upload_id: str, request: Request, ctx: Ctx, who: Who) -> Response:
    """The upload and its staged bytes are removed (an item it became stays)."""
    _check_version(request)
    authorize(who, Op.DEPOSIT, tenant=who.tenant)
    staging = _staging(ctx)
    _owned(staging, upload_id, who)
    with staging.lock(upload_id):
        await _in_executor(request, staging.remove, upload_id)
    return Response(status_code=204)
