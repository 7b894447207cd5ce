"""Deposits: one file of any size, or connection-metadata records.

Rules every deposit path shares (the CLI's and the API's): corrections are made through the
rectification right, never deposited; ``meta`` is for file kinds (a record's fields are its
JSON keys); a payload larger than its kind allows is refused while it streams; the tenant
must exist, except for the operator at the vault's host, who may let a deposit create it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any, BinaryIO

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.errors import InputError, SignatureRequired
from vault.evidence.canonical import canonical
from vault.evidence.kinds import RECORD_KINDS, Kind, parse_kind
from vault.evidence.receipt import Receipt
from vault.ingest import idempotency
from vault.ingest.common import DepositRequest, validate
from vault.ingest.idempotency import replayed as replayed  # re-exported: HTTP says Idempotent-Replayed
from vault.service.result import Result
from vault.tenants.registry import get_tenant

GiB = 1024**3
#: largest payload per kind (bytes): recordings are large, records and requests are small
SIZE_LIMITS: dict[Kind, int] = {
    Kind.SESSION_RECORDING: 64 * GiB,
    Kind.SESSION_LOG: 4 * GiB,
    Kind.SIGNED_DOCUMENT: 1 * GiB,
    Kind.TRANSACTION_PROOF: 1 * GiB,
    Kind.REQUEST: 256 * 1024**2,
    Kind.CONNECTION_METADATA: 64 * 1024**2,
}
#: JSON nesting deeper than this is refused before parsing (no recursion blow-up)
MAX_JSON_DEPTH = 64


def size_limit(kind: Kind) -> int:
    return SIZE_LIMITS.get(kind, 1 * GiB)


def depositable(kind: str) -> Kind:
    """The kind, if it may be deposited (corrections come from the rectification right)."""
    k = parse_kind(kind)
    if k is Kind.CORRECTION:
        raise InputError("corrections are made with the rectification right (`vault subject rectify`), not deposited")
    return k


def _request(
    ctx: VaultContext,
    who: Principal,
    *,
    tenant: str,
    session: str,
    kind: str,
    purpose: str | None,
    subject: str | None,
    meta: dict[str, Any] | None,
    create_tenant: bool,
    idempotency_key: str | None = None,
    client_signature: str | None = None,
) -> DepositRequest:
    depositable(kind)
    authorize(who, Op.DEPOSIT, tenant=tenant)
    req = validate(tenant=tenant, session=session, kind=kind, purpose=purpose, subject=subject, meta=meta)
    key = idempotency.check_key(idempotency_key)
    row = None
    if not (create_tenant and who.local):
        row = get_tenant(ctx.sessions, tenant)  # an unknown tenant is an error, never created on the fly
    else:
        from vault.index.models import Tenant

        with ctx.sessions() as s:
            row = s.get(Tenant, tenant)
    attested = None
    if client_signature is not None:  # a forged or revoked one is refused whatever the setting
        from vault.service.devices import attest

        attested = attest(
            ctx,
            who,
            client_signature,
            tenant=req.tenant,
            session=req.session,
            kind=req.kind.value,
            idempotency_key=key,
            received_at=ctx.now(),
        )
    elif row is not None and row.require_signatures:
        raise SignatureRequired(
            f"tenant {tenant!r} requires a device signature on every deposit",
            detail="send Vault-Signature (docs/api.md, Device signatures); nothing was kept",
        )
    if key is None and attested is None:
        return req
    return dataclasses.replace(req, idempotency_key=key, attested=attested)


def deposit_file(
    ctx: VaultContext,
    who: Principal,
    src: BinaryIO,
    *,
    tenant: str,
    session: str,
    kind: str,
    purpose: str | None = None,
    subject: str | None = None,
    meta: dict[str, Any] | None = None,
    expected_sha256: str | None = None,
    create_tenant: bool = False,
    idempotency_key: str | None = None,
    client_signature: str | None = None,
) -> Receipt:
    """Stream ``src`` into one item; the signed receipt once it is durable.

    With ``idempotency_key``, a retry of the same deposit returns the original receipt
    (:func:`replayed` tells), and another deposit with the key is ``idempotency_conflict``.
    ``client_signature``: the device-signed statement (``Vault-Signature``), verified before
    any byte is stored."""
    from vault.ingest.files import deposit_stream

    if parse_kind(kind) in RECORD_KINDS:
        raise InputError(f"{kind} is deposited as records (a JSON object, an array of them, or JSON lines)")
    if meta and not isinstance(meta, dict):
        raise InputError("metadata must be a JSON object of personal fields")
    req = _request(
        ctx,
        who,
        tenant=tenant,
        session=session,
        kind=kind,
        purpose=purpose,
        subject=subject,
        meta=meta,
        create_tenant=create_tenant,
        idempotency_key=idempotency_key,
        client_signature=client_signature,
    )
    if expected_sha256 is not None:
        expected_sha256 = check_sha256(expected_sha256)
    if req.idempotency_key is not None:  # one primary-key read; a retry is answered without storing
        row = idempotency.lookup(ctx, req.tenant, req.idempotency_key)
        ids = idempotency.existing_file(ctx, row) if row is not None else None
        if ids:
            return idempotency.replay_file(ctx, ids, src, req)
    return deposit_stream(ctx, src, req, who=who, expected_sha256=expected_sha256, max_size=size_limit(req.kind))


def deposit_records(
    ctx: VaultContext,
    who: Principal,
    records: Sequence[Any],
    *,
    tenant: str,
    session: str,
    kind: str = "connection_metadata",
    purpose: str | None = None,
    subject: str | None = None,
    meta: dict[str, Any] | None = None,
    create_tenant: bool = False,
    packer: Any = None,
    idempotency_key: str | None = None,
    client_signature: str | None = None,
    raw: bytes | None = None,
) -> list[Receipt]:
    """Deposit records; concurrent callers given the same ``packer`` share segments.

    One idempotency key covers the whole call. A ``client_signature`` signs ``raw``, the
    record file as sent (without it, the canonical JSON of ``records``)."""
    from vault.ingest.connection import connection_records
    from vault.ingest.records import deposit_records as _deposit

    if parse_kind(kind) not in RECORD_KINDS:
        raise InputError(f"{kind} is deposited as a file, not as records")
    if meta:
        raise InputError("metadata is for file kinds; a record's fields are its JSON keys")
    if not records:
        raise InputError("no records: nothing to deposit")
    req = _request(
        ctx,
        who,
        tenant=tenant,
        session=session,
        kind=kind,
        purpose=purpose,
        subject=subject,
        meta=None,
        create_tenant=create_tenant,
        idempotency_key=idempotency_key,
        client_signature=client_signature,
    )
    if req.attested is not None:
        from vault.devices.statement import check_content

        body = raw if raw is not None else canonical(list(records))
        check_content(req.attested.signed, hashlib.sha256(body).hexdigest(), len(body))
    pairs = connection_records(req, records)  # checked and enriched: one bad field refuses the call
    key = req.idempotency_key
    if key is not None:
        row = idempotency.lookup(ctx, req.tenant, key)
        if row is not None:
            again = idempotency.existing_records(ctx, row, req, records)
            if again is not None:
                return list(again)
        key_id, dek = ctx.data_keys.data_key(req.tenant, req.subject, req.purpose.value)
        with ctx.sessions() as s:
            idempotency.claim_in(
                s,
                req,
                call="records",
                ids=[],
                now=ctx.now(),
                expected=len(records),
                request_mac=idempotency.request_mac(dek, req, records),
                subject_key_id=key_id,
            )
            idempotency.commit_claim(s, key)
    try:
        if packer is not None:
            return list(packer.deposit(pairs, who=who))
        return _deposit(ctx, pairs, who=who)
    except BaseException:
        if key is not None:
            idempotency.release(ctx, req.tenant, key)  # kept when some records were acknowledged
        raise


def receipts_result(receipts: Sequence[Receipt]) -> Result:
    ids = [r.item_id for r in receipts]
    return Result({"id": ids[0], "ids": ids, "count": len(ids), "receipts": [r.as_json() for r in receipts]})


def check_sha256(value: str) -> str:
    v = value.strip().lower()
    if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
        raise InputError("a SHA-256 is 64 hexadecimal characters", detail=repr(value)[:80])
    return v


def json_depth_ok(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Is the nesting of ``text`` at most ``limit``? (Counts brackets outside strings.)"""
    depth = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth = max(depth - 1, 0)  # a stray closer cannot buy depth for what follows
    return True


def parse_records(data: bytes) -> list[Any]:
    """A record file: a JSON object, an array of objects, or JSON lines."""
    try:
        text = data.decode("utf-8", errors="strict").strip()
    except UnicodeDecodeError as e:
        raise InputError("the record file is not UTF-8", detail=str(e)) from e
    if not text:
        raise InputError("the record file is empty")
    if not json_depth_ok(text):
        raise InputError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        obj = json.loads(text)
        if obj == []:
            raise InputError("the record file holds an empty list: nothing to deposit")
        return obj if isinstance(obj, list) else [obj]
    except json.JSONDecodeError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise InputError(
                "connection_metadata must be a JSON object, an array of them, or JSON lines",
                detail=str(e),
            ) from e


def parse_meta(pairs: list[str]) -> dict[str, str]:
    """``key=value`` pairs (the CLI's ``--meta``)."""
    meta: dict[str, str] = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise InputError("--meta takes key=value", detail=repr(p))
        meta[k] = v
    return meta
