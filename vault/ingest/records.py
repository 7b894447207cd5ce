"""Small records (connection metadata), packed into segment objects with group commit.

One S3 PUT costs about as much as a thousand small records' worth of hashing, so records
that arrive together, in one call or in concurrent calls, are written as one segment object
per (tenant, purpose), and each record is indexed by (object, version, offset,
length). Each record is encrypted on its own under its subject's data key, so erasing one
subject does not touch the others sharing the segment. An acknowledgement still means the
segment is in object storage and the records' rows are committed.

A record's plaintext is the list of its field *disclosures* (see
:mod:`vault.privacy.commitments`), so its content digest cannot be brute-forced even for
tiny fields such as an IPv4 address.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Table, insert, update

from vault.access.principal import SYSTEM, Principal
from vault.context import VaultContext
from vault.envelope.stream import HEADER_LEN, SCHEME, TAG_LEN, encrypt_bytes
from vault.errors import InputError, VaultError
from vault.evidence.canonical import canonical_known
from vault.evidence.ids import new_item_id, new_segment_id
from vault.evidence.manifest import StoragePin
from vault.evidence.receipt import Receipt, sign_receipts
from vault.index.models import Item, Segment
from vault.ingest import idempotency
from vault.ingest.common import (
    DepositRequest,
    check_fields,
    check_objections,
    deposit_tenant,
    fault_point,
    finish_manifest,
    manifest_key,
    objections,
    retention_for,
    store_manifests,
    under_hold,
)
from vault.journal.log import record
from vault.privacy.commitments import commit_fields
from vault.storage.s3 import Lock


@dataclass
class _Pending:
    """A record ready to pack: validated and committed in the caller's thread, so one caller's
    bad field fails that caller alone and never half of a multi-segment call."""

    req: DepositRequest
    commitments: dict[str, str]
    plaintext: bytes
    future: Future[Receipt] | None  # None when the caller waits on write_segment itself
    who: Principal = SYSTEM  # journalled as the depositor of this record


def record_fields(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict) or not obj:
        raise InputError("a connection_metadata record must be a non-empty JSON object")
    return check_fields(obj)


def prepare_record(
    req: DepositRequest, fields: Any, future: Future[Receipt] | None, who: Principal = SYSTEM
) -> _Pending:
    commitments, disclosures = commit_fields({**record_fields(fields), "subject": req.subject})
    plaintext = canonical_known({"disclosures": [d.encoded for d in disclosures]})
    return _Pending(req, commitments, plaintext, future, who)


def write_segment(ctx: VaultContext, group: Sequence[_Pending]) -> list[Receipt]:
    """Encrypt, pack and store one segment; index its records; return their receipts."""
    req0 = group[0].req
    tenant = deposit_tenant(ctx, req0.tenant)
    received_at = ctx.now()
    # one segment = one tenant and one purpose, received at one instant: its records share
    # one retain-until date, so they expire (and are deleted) together
    retention = retention_for(
        ctx, tenant, req0.purpose, received_at, legal_hold=under_hold(ctx, req0.tenant, {p.req.session for p in group})
    )
    lock: Lock = retention.lock
    segment_id = new_segment_id(received_at)
    object_key = f"t/{req0.tenant}/segments/{req0.retention_class.value}/{segment_id}"

    blobs: list[bytes] = []
    rows: list[dict[str, Any]] = []
    offset = 0
    prepared = []
    for p in group:
        key_id, dek = ctx.data_keys.data_key(p.req.tenant, p.req.subject, p.req.purpose.value)
        item_id = new_item_id(received_at)
        blob = encrypt_bytes(dek, item_id.encode(), p.plaintext)
        prepared.append((p, item_id, key_id, p.commitments, p.plaintext, blob, offset))
        blobs.append(blob)
        offset += len(blob)

    with ctx.sessions() as s:  # intent: a segment row without version; no item rows yet
        s.add(
            Segment(
                id=segment_id,
                tenant_id=req0.tenant,
                retention_class=req0.retention_class.value,
                object_key=object_key,
                version_id=None,
                state="writing",
                size=offset,
                records=len(group),
                retain_until=retention.until,
                created_at=received_at,
            )
        )
        s.commit()
    stored = ctx.store.put(object_key, b"".join(blobs), lock)
    fault_point("after-segment-write")

    manifests: list[tuple[str, bytes, bytes]] = []
    for p, item_id, key_id, commitments, plaintext, blob, off in prepared:
        pin = StoragePin(
            bucket=ctx.store.bucket,
            key=object_key,
            version_id=stored.version_id,
            offset=off,
            length=len(blob),
            ciphertext_sha256=hashlib.sha256(blob).hexdigest(),
            encryption=SCHEME,
            lock_mode=lock.mode,
            retain_until=lock.retain_until,
        )
        sha256 = hashlib.sha256(plaintext).hexdigest()
        evidence, leaf = finish_manifest(
            item_id=item_id,
            req=p.req,
            received_at=received_at,
            size=len(plaintext),
            sha256=sha256,
            sha3_256=hashlib.sha3_256(plaintext).hexdigest(),
            commitments=commitments,
            pin=pin,
            # a signed call's statement is sealed under the record's data key (cached)
            dek=ctx.data_keys.data_key(p.req.tenant, p.req.subject, p.req.purpose.value)[1]
            if p.req.attested is not None
            else None,
        )
        manifests.append((item_id, evidence, leaf))
        rows.append(
            {
                "id": item_id,
                "tenant_id": p.req.tenant,
                "session": p.req.session,
                "kind": p.req.kind.value,
                "purpose": p.req.purpose.value,
                "retention_class": p.req.retention_class.value,
                "subject_key_id": key_id,
                "state": "stored",
                "received_at": received_at,
                "size": len(plaintext),
                "sha256": sha256,
                "object_key": object_key,
                "version_id": stored.version_id,
                "offset": off,
                "length": len(blob),
                "segment_id": segment_id,
                "retain_until": retention.until,
                "corrects": p.req.corrects,
                "lock_mode": lock.mode,
                "deposited_by": p.who.actor,
                "evidence": evidence,
                "leaf": leaf,
            }
        )
    storage = {"bucket": ctx.store.bucket, "key": object_key, "version_id": stored.version_id}
    receipts = sign_receipts(ctx.sealer, tenant=req0.tenant, received_at=received_at, storage=storage, items=manifests)
    for row, receipt in zip(rows, receipts, strict=True):
        row["receipt"] = receipt.path_json()
    manifest_version = store_manifests(ctx, object_key, lock, receipts)
    if not lock.legal_hold and under_hold(ctx, req0.tenant, {p.req.session for p in group}):  # placed meanwhile
        ctx.store.set_legal_hold(object_key, stored.version_id, True)
        ctx.store.set_legal_hold(manifest_key(object_key), manifest_version, True)
    with ctx.sessions() as s:  # durable: acknowledge every record of the segment at once
        done = s.execute(
            update(Segment)
            .where(Segment.id == segment_id, Segment.state == "writing")
            .values(version_id=stored.version_id, state="stored", receipt=receipts[0].signed_json())
        )
        if cast(CursorResult[Any], done).rowcount != 1:  # recovery gave this write up meanwhile: it is not acknowledged
            raise VaultError("deposit abandoned", detail=f"segment {segment_id} was marked orphaned; retry")
        ctx.data_keys.check_live(s, {row["subject_key_id"] for row in rows})
        s.execute(insert(cast(Table, Item.__table__)), rows)  # Core executemany: no ORM bookkeeping per row
        keyed: dict[tuple[str, str], list[str]] = defaultdict(list)  # idempotency keys of the calls in it
        for p, row in zip(group, rows, strict=True):
            if p.req.idempotency_key is not None:
                keyed[(p.req.tenant, p.req.idempotency_key)].append(row["id"])
        for (tenant_id, key), ids in keyed.items():
            idempotency.acknowledge_in(s, tenant_id, key, ids, append=True)
        by_who: dict[Principal, list[str]] = defaultdict(list)  # callers sharing a segment each get their entry
        for p, row in zip(group, rows, strict=True):
            by_who[p.who].append(row["id"])
        for who, ids in by_who.items():
            record(
                s,
                ctx,
                who,
                "deposit",
                tenant=req0.tenant,
                at=received_at,
                items=ids,
                kind=req0.kind.value,
                purpose=req0.purpose.value,
                segment=segment_id,
            )
        s.commit()
    return receipts


#: a flusher that finds another one writing waits for it up to this long, or until this many
#: records wait (then it writes at once, in parallel with the other)
BUSY_LINGER_SECONDS = 0.25
BUSY_FLUSH_RECORDS = 512


class RecordPacker:
    """Group commit for records: callers block until their segment is durable.

    Each flusher thread drains everything waiting (after a short linger), splits it by
    (tenant, purpose) and size limits, and writes one segment per group. Two
    flushers by default: while one waits on the object store and the index, the next
    group gathers and goes, so callers are not serialised behind one write.
    """

    def __init__(self, ctx: VaultContext, *, flushers: int = 2) -> None:
        self.ctx = ctx
        self._queue: list[_Pending] = []
        self._cv = threading.Condition()
        self._closed = False
        self._writing = 0  # flushers writing a segment now
        self._threads = [
            threading.Thread(target=self._run, name=f"record-packer-{n}", daemon=True) for n in range(flushers)
        ]
        for t in self._threads:
            t.start()

    def submit(
        self, reqs: Sequence[tuple[DepositRequest, dict[str, Any]]], *, who: Principal = SYSTEM
    ) -> list[Future[Receipt]]:
        futures: list[Future[Receipt]] = [Future() for _ in reqs]
        pending = [prepare_record(r, f, fut, who) for (r, f), fut in zip(reqs, futures, strict=True)]
        with self._cv:
            if self._closed:
                raise VaultError("the record packer is closed")
            self._queue.extend(pending)
            self._cv.notify()
        return futures

    def deposit(
        self, reqs: Sequence[tuple[DepositRequest, dict[str, Any]]], *, who: Principal = SYSTEM
    ) -> list[Receipt]:
        return [f.result() for f in self.submit(reqs, who=who)]

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for t in self._threads:
            t.join()

    def _run(self) -> None:
        s = self.ctx.settings
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue and self._closed:
                    return
            time.sleep(s.segment_linger_seconds)  # let concurrent callers join this flush
            with self._cv:
                # under load, while another flusher is writing, keep gathering until it is done
                # (or enough records wait): one flush per write of the other, not one per
                # linger, so segments grow with the load and their fixed cost (two PUTs, a
                # seal, two commits) is shared by more records
                until = time.monotonic() + BUSY_LINGER_SECONDS
                while self._writing and len(self._queue) < BUSY_FLUSH_RECORDS and not self._closed:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._cv.wait(left)
                batch, self._queue = self._queue, []
                if batch:
                    self._writing += 1
            if not batch:  # another flusher took it
                continue
            try:
                self._write(batch)
            finally:
                with self._cv:
                    self._writing -= 1
                    self._cv.notify_all()

    def _write(self, batch: list[_Pending]) -> None:
        s = self.ctx.settings
        groups: dict[tuple[str, str], list[_Pending]] = defaultdict(list)
        for p in batch:
            groups[(p.req.tenant, p.req.purpose.value)].append(p)
        for group in groups.values():
            for part in split_segments(group, s.segment_max_records, s.segment_max_bytes):
                self._flush(part)

    def _flush(self, group: list[_Pending]) -> None:
        # objections are checked once per flush, not once per caller: a refused record fails
        # its own caller only, the rest of the group is written
        refused: dict[tuple[str, str, str], BaseException]
        try:
            refused = dict(objections(self.ctx, [p.req for p in group]))
        except Exception as e:  # the check itself failed: every caller learns of it
            refused = {(p.req.tenant, p.req.subject, p.req.purpose.value): e for p in group}
        if refused:
            kept = []
            for p in group:
                err = refused.get((p.req.tenant, p.req.subject, p.req.purpose.value))
                if err is None:
                    kept.append(p)
                elif p.future is not None and not p.future.done():
                    p.future.set_exception(err)
            group = kept
            if not group:
                return
        try:
            receipts = write_segment(self.ctx, group)
        except BaseException as e:  # every waiting caller learns of the failure
            for p in group:
                if p.future is not None and not p.future.done():
                    p.future.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        for p, r in zip(group, receipts, strict=True):
            if p.future is not None:
                p.future.set_result(r)


def split_segments(group: list[_Pending], max_records: int, max_bytes: int) -> Iterator[list[_Pending]]:
    """Cut a group into segments of at most ``max_records`` records and about ``max_bytes``."""
    current: list[_Pending] = []
    size = 0
    for p in group:
        n = len(p.plaintext) + HEADER_LEN + TAG_LEN
        if current and (len(current) >= max_records or size + n > max_bytes):
            yield current
            current, size = [], 0
        current.append(p)
        size += n
    if current:
        yield current


def deposit_records(
    ctx: VaultContext, reqs: Sequence[tuple[DepositRequest, dict[str, Any]]], *, who: Principal = SYSTEM
) -> list[Receipt]:
    """One call carrying many records: they share segment writes. Receipts come in input order."""
    check_objections(ctx, [r for r, _ in reqs])
    by_group: dict[tuple[str, str], list[_Pending]] = defaultdict(list)
    order: dict[int, int] = {}
    for n, (r, f) in enumerate(reqs):
        # every record is validated and committed before the first write
        p = prepare_record(r, f, None, who)
        order[id(p)] = n
        by_group[(r.tenant, r.purpose.value)].append(p)
    out: list[Receipt | None] = [None] * len(reqs)
    s = ctx.settings
    for group in by_group.values():
        for part in split_segments(group, s.segment_max_records, s.segment_max_bytes):
            for p, receipt in zip(part, write_segment(ctx, part), strict=True):
                out[order[id(p)]] = receipt
    return [r for r in out if r is not None]
