"""Exactly-once deposits: idempotency keys (docs/decisions/0013).

A deposit may carry a key (1-200 printable ASCII characters, scoped by tenant). The first
deposit with it *claims* the key: a row ``pending`` in ``idempotency_keys``, written in the
same transaction as a file's intent (records: just before their segment); its acknowledgement
records the item ids in the same transaction that acknowledges the items. A retry then gets
the original items and receipts back, never a second item:

- a file: the retried bytes are hashed (nothing is stored) and compared with the sealed
  evidence of the original item (its plain digest, or its salted one with its content salt),
  with its kind, session, purpose and subject; anything else is ``idempotency_conflict``;
- records: an HMAC of the call under the subject's data key, kept with the key, is compared
  (no digest of personal data that would outlive an erasure).

Two concurrent deposits with one key: one claims it, the other is refused at once with
``idempotency_in_progress`` (409) before any byte is stored; its retry gets the first's
answer. A claim whose deposit died (its intent orphaned, or a records claim older than
:data:`STALE_RECORDS` without items) is taken over by the next deposit with the key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.context import VaultContext
from vault.errors import IdempotencyConflict, IdempotencyInProgress, InputError
from vault.evidence.canonical import canonical
from vault.evidence.manifest import is_salted
from vault.evidence.receipt import Receipt
from vault.evidence.sealed import open_salt
from vault.index.models import IdempotencyKey, Item, Segment, SubjectKey
from vault.ingest.common import DepositRequest

MAX_KEY = 200
#: a records claim with no item after this long belongs to a deposit that died
STALE_RECORDS = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class ReplayedReceipt(Receipt):
    """A receipt given again for a retried deposit (HTTP: ``Idempotent-Replayed: true``)."""


def replayed(receipt: Receipt) -> bool:
    return isinstance(receipt, ReplayedReceipt)


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if (
        not isinstance(key, str)
        or not 1 <= len(key) <= MAX_KEY
        or any(not 0x20 <= ord(c) <= 0x7E for c in key)
        or key != key.strip()
    ):
        raise InputError(
            f"an idempotency key is 1-{MAX_KEY} printable ASCII characters, no leading or trailing space",
            detail=repr(key)[:80],
        )
    return key


def _ids(row: IdempotencyKey) -> list[str]:
    return [i for i in (row.item_ids or "").split(",") if i]


def lookup(ctx: VaultContext, tenant: str, key: str) -> IdempotencyKey | None:
    """One primary-key read."""
    with ctx.sessions() as s:
        row = s.get(IdempotencyKey, (tenant, key))
        if row is not None:
            s.expunge(row)
        return row


def _take_over(ctx: VaultContext, row: IdempotencyKey) -> None:
    """Remove a dead claim (only if it is still the same one)."""
    with ctx.sessions() as s:
        s.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.tenant_id == row.tenant_id,
                IdempotencyKey.key == row.key,
                IdempotencyKey.state == "pending",
                IdempotencyKey.item_ids == row.item_ids,
            )
        )
        s.commit()


def _in_progress(key: str) -> IdempotencyInProgress:
    return IdempotencyInProgress(
        "a deposit with this idempotency key is in progress", detail=f"{key!r}: retry once it has answered"
    )


def existing_file(ctx: VaultContext, row: IdempotencyKey) -> list[str] | None:
    """The acknowledged item of a file claim; None when the claim is dead (taken over);
    raises when it is in progress or was used for records."""
    if row.call != "file":
        raise IdempotencyConflict("the idempotency key was used for records, not a file", detail=row.key)
    ids = _ids(row)
    if row.state == "done":
        return ids
    with ctx.sessions() as s:
        state = s.scalar(select(Item.state).where(Item.id == ids[0])) if ids else None
    if state == "writing":
        raise _in_progress(row.key)
    if state in ("stored", "sealed"):  # acknowledged, the claim's update lost with it? never: same txn
        return ids
    _take_over(ctx, row)  # orphaned, or refused and gone: the key is free again
    return None


def claim_in(s: Session, req: DepositRequest, *, call: str, ids: Sequence[str], now: dt.datetime, **kw: Any) -> None:
    assert req.idempotency_key is not None
    s.add(
        IdempotencyKey(
            tenant_id=req.tenant,
            key=req.idempotency_key,
            state="pending",
            call=call,
            item_ids=",".join(ids),
            created_at=now,
            **kw,
        )
    )


def commit_claim(s: Session, key: str) -> None:
    """Commit a transaction holding a claim; a concurrent claim of the key is "in progress"."""
    try:
        s.commit()
    except IntegrityError:
        s.rollback()
        raise _in_progress(key) from None


def acknowledge_in(s: Session, tenant: str, key: str, ids: Sequence[str], *, append: bool = False) -> None:
    """Record the acknowledged items, in the transaction that acknowledges them."""
    col = IdempotencyKey.item_ids
    joined = ",".join(ids)
    s.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.tenant_id == tenant, IdempotencyKey.key == key)
        .values(
            item_ids=(col + "," + joined) if append else joined,
            **({} if append else {"state": "done"}),
        )
    )


def release(ctx: VaultContext, tenant: str, key: str) -> None:
    """Free the claim of a deposit refused before anything was acknowledged."""
    with ctx.sessions() as s:
        s.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.tenant_id == tenant,
                IdempotencyKey.key == key,
                IdempotencyKey.state == "pending",
                IdempotencyKey.item_ids.notlike("%,%"),  # a records claim with items is kept
            )
        )
        s.commit()


# -- replays --------------------------------------------------------------------------------


def _receipt_of(ctx: VaultContext, s: Session, item: Item) -> ReplayedReceipt:
    if item.evidence is None or item.receipt is None:
        raise IdempotencyConflict("the item of this idempotency key has no receipt", detail=item.id)
    if item.segment_id is None:
        doc = json.loads(item.receipt)
        r = Receipt(
            item_id=item.id,
            evidence=bytes(item.evidence),
            leaf=bytes(item.leaf or b""),
            path=[[bytes.fromhex(h) for h in level] for level in doc["path"]],
            body=base64.b64decode(doc["body"]),
            seal=base64.b64decode(doc["seal"]),
        )
    else:
        seg = s.get(Segment, item.segment_id)
        if seg is None or seg.receipt is None:
            raise IdempotencyConflict("the segment of this idempotency key's records is missing", detail=item.id)
        r = Receipt.from_parts(item.id, bytes(item.evidence), bytes(item.receipt), bytes(seg.receipt))
    return ReplayedReceipt(r.item_id, r.evidence, r.leaf, r.path, r.body, r.seal)


def receipts(ctx: VaultContext, ids: Sequence[str]) -> list[ReplayedReceipt]:
    with ctx.sessions() as s:
        rows = {i.id: i for i in s.scalars(select(Item).where(Item.id.in_(list(ids)))).all()}
        missing = [i for i in ids if i not in rows]
        if missing:
            raise IdempotencyConflict("items of this idempotency key are gone", detail=", ".join(missing)[:200])
        return [_receipt_of(ctx, s, rows[i]) for i in ids]


def _conflict(key: str, what: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        "the idempotency key was used for another deposit", detail=f"{key!r}: {what} differs; nothing was deposited"
    )


def replay_file(ctx: VaultContext, ids: list[str], src: BinaryIO, req: DepositRequest) -> ReplayedReceipt:
    """The original receipt, if ``src`` and ``req`` are the deposit the key was used for."""
    assert req.idempotency_key is not None
    key = req.idempotency_key
    with ctx.sessions() as s:
        item = s.scalar(select(Item).where(Item.id == ids[0]))
        if item is None or item.evidence is None:
            raise IdempotencyConflict("the item of this idempotency key is gone", detail=ids[0])
        subject = s.scalar(select(SubjectKey.subject).where(SubjectKey.id == item.subject_key_id))
        evidence = json.loads(item.evidence)
        for name, mine in (
            ("kind", req.kind.value),
            ("session", req.session),
            ("purpose", req.purpose.value),
            ("tenant", req.tenant),
        ):
            if evidence.get(name) != mine:
                raise _conflict(key, name)
        if subject != req.subject:
            raise _conflict(key, "subject")
        salt = None
        if is_salted(evidence):
            _row, dek = ctx.data_keys.by_id(item.subject_key_id)
            if dek is None:
                raise IdempotencyConflict(
                    "the deposit of this idempotency key was erased", detail="its content can no longer be compared"
                )
            salt = open_salt(dek, item.id, evidence)
        h = hashlib.sha256(salt or b"")
        size = 0
        while chunk := src.read(1024 * 1024):
            h.update(chunk)
            size += len(chunk)
        content = evidence.get("content", {})
        want = content.get("salted_sha256" if salt is not None else "sha256")
        if size != content.get("size") or h.hexdigest() != want:
            raise _conflict(key, "the content")
        return _receipt_of(ctx, s, item)


def request_mac(dek: bytes, req: DepositRequest, records: Sequence[Any]) -> str:
    body = canonical(
        {
            "session": req.session,
            "kind": req.kind.value,
            "purpose": req.purpose.value,
            "subject": req.subject,
            "records": list(records),
        }
    )
    return hmac.new(dek, b"vault-idempotency/1\x00" + body, hashlib.sha256).hexdigest()


def existing_records(
    ctx: VaultContext, row: IdempotencyKey, req: DepositRequest, records: Sequence[Any]
) -> list[ReplayedReceipt] | None:
    """The original receipts of a records call; None when the claim is dead (taken over)."""
    key = row.key
    if row.call != "records":
        raise IdempotencyConflict("the idempotency key was used for a file, not records", detail=key)
    ids = _ids(row)
    if row.subject_key_id is None or row.request_mac is None:
        raise _conflict(key, "the call")
    _krow, dek = ctx.data_keys.by_id(row.subject_key_id)
    if dek is None:
        raise IdempotencyConflict("the deposit of this idempotency key was erased", detail=key)
    if not hmac.compare_digest(request_mac(dek, req, records), row.request_mac):
        raise _conflict(key, "the call (session, kind, purpose, subject or records)")
    if len(ids) >= row.expected:
        return receipts(ctx, ids)
    if ids:
        if row.created_at + STALE_RECORDS > ctx.now():
            raise _in_progress(key)
        raise IdempotencyConflict(
            "the call of this idempotency key was deposited in part",
            detail=f"{len(ids)} of {row.expected} records acknowledged: {', '.join(ids)[:200]}",
        )
    if row.created_at + STALE_RECORDS > ctx.now():
        raise _in_progress(key)
    _take_over(ctx, row)
    return None
