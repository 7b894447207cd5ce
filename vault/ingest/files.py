"""Deposit of one payload of any size (logs, recordings, documents), streamed.

Order of durability: (1) an intent row ``writing`` is committed; (2) the encrypted bytes go
to object storage under Object Lock, single PUT or multipart, each request carrying its
SHA-256 so the store checks it; (3) the row becomes ``stored`` with the pinned version and the
sealed manifest, committed; only then is the deposit acknowledged. A crash anywhere before
(3) leaves an intent that recovery marks ``orphaned``: never acknowledged, never evidence.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import stat
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from sqlalchemy import CursorResult, delete, update

from vault.access.principal import SYSTEM, Principal
from vault.context import VaultContext
from vault.devices.statement import check_content
from vault.envelope.stream import DEFAULT_CHUNK, SCHEME, StreamEncryptor, encrypt_bytes
from vault.errors import InputError, StorageError, TooLarge, VaultError
from vault.evidence.canonical import canonical
from vault.evidence.ids import new_item_id
from vault.evidence.kinds import RECORD_KINDS, salted_content
from vault.evidence.manifest import StoragePin
from vault.evidence.receipt import Receipt, sign_receipts
from vault.evidence.sealed import new_salt, seal_salt
from vault.index.models import Item
from vault.ingest import idempotency
from vault.ingest.common import (
    DepositRequest,
    check_objections,
    deposit_tenant,
    fault_point,
    finish_manifest,
    manifest_key,
    retention_for,
    store_manifests,
    under_hold,
)
from vault.journal.log import record
from vault.privacy.commitments import commit_fields
from vault.storage.s3 import StoredObject


class _Hasher:
    """SHA-256 inline, SHA3-256 on its own thread: hashlib releases the GIL on large updates,
    so the slower SHA3 runs beside encryption and upload instead of after them. The queue is
    bounded, so a slow SHA3 holds the reader back instead of buffering the payload.

    With a ``salt`` (an erasable item, ``vault-evidence/2``), both digests are of
    ``salt || content``. ``announced``: also a plain SHA-256, on the SHA3 thread, for the check
    of the digest the depositor announced, and never stored (with no salt, the inline SHA-256
    is already the plain one)."""

    def __init__(self, salt: bytes | None = None, *, announced: bool = False) -> None:
        prefix = salt or b""
        self.sha256 = hashlib.sha256(prefix)
        self.sha3 = hashlib.sha3_256(prefix)
        self._plain = hashlib.sha256() if salt is not None and announced else None
        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self._t = threading.Thread(target=self._run, daemon=True, name="sha3")
        self._t.start()
        self._done: tuple[str, str] | None = None

    def _run(self) -> None:
        plain = self._plain
        while (data := self._q.get()) is not None:
            self.sha3.update(data)
            if plain is not None:
                plain.update(data)

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        self._q.put(data)

    def finish(self) -> tuple[str, str]:
        """(SHA-256, SHA3-256) once every byte is in; may be called again."""
        if self._done is None:
            self._q.put(None)
            self._t.join()
            self._done = self.sha256.hexdigest(), self.sha3.hexdigest()
        return self._done

    def plain_sha256(self) -> str:
        """SHA-256 of the content alone, once every byte is in (for the announced check only)."""
        sha256, _sha3 = self.finish()
        return self._plain.hexdigest() if self._plain is not None else sha256


def _remaining_size(src: BinaryIO) -> int | None:
    """Bytes left in a regular file, or None for pipes and other streams."""
    try:
        st = os.fstat(src.fileno())
        return st.st_size - src.tell() if stat.S_ISREG(st.st_mode) else None
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _read_full(src: BinaryIO, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        piece = src.read(n - len(buf))
        if not piece:
            break
        buf += piece
    return bytes(buf)


def _drop_intent(ctx: VaultContext, item_id: str) -> None:
    """Remove the intent of a deposit refused before any byte was stored."""
    with contextlib.suppress(Exception), ctx.sessions() as s:  # recovery marks it orphaned otherwise
        s.execute(delete(Item).where(Item.id == item_id, Item.state == "writing"))
        s.commit()


def _ciphertext(
    src: BinaryIO,
    enc: StreamEncryptor,
    hasher: _Hasher,
    counter: list[int],
    produced: list[int],
    max_size: int | None = None,
) -> Iterator[bytes]:
    """Encrypted stream; ``counter`` counts plaintext bytes, ``produced`` ciphertext bytes."""
    produced[0] += len(enc.header)
    yield enc.header
    chunk = _read_full(src, enc.chunk_size)
    while True:
        nxt = _read_full(src, enc.chunk_size) if len(chunk) == enc.chunk_size else b""
        last = not nxt
        hasher.update(chunk)
        counter[0] += len(chunk)
        if max_size is not None and counter[0] > max_size:
            raise TooLarge("the payload is larger than its kind allows", detail=f"limit {max_size} bytes")
        sealed = enc.chunk(chunk, last=last)
        produced[0] += len(sealed)
        yield sealed
        if last:
            return
        chunk = nxt


def _parts(stream: Iterator[bytes], part_size: int) -> Iterator[bytes]:
    """Regroup ciphertext chunks into parts of exactly ``part_size`` (the last may be short),
    copying each byte once."""
    pieces: list[bytes] = []
    held = 0
    for piece in stream:
        while piece:
            take = min(len(piece), part_size - held)
            pieces.append(piece[:take] if take < len(piece) else piece)
            held += take
            piece = piece[take:]
            if held == part_size:
                yield b"".join(pieces)
                pieces, held = [], 0
    if pieces:
        yield b"".join(pieces)


def deposit_stream(
    ctx: VaultContext,
    src: BinaryIO,
    req: DepositRequest,
    *,
    who: Principal = SYSTEM,
    expected_sha256: str | None = None,
    max_size: int | None = None,
) -> Receipt:
    """Deposit the bytes of ``src`` as one item; return the signed receipt once durable.

    ``expected_sha256`` (the SHA-256 the caller announced) and ``max_size`` are checked before
    the object exists in the store (before its single PUT, or before the multipart upload is
    completed): a mismatch or an oversized payload leaves no object, no item row and no item.

    An erasable item (:func:`~vault.evidence.kinds.salted_content`) gets a fresh salt: its
    evidence, index row, receipt and journal entry carry only digests of salt || content (or
    none), the salt itself sealed under its data key; the plain SHA-256 is computed for the
    announced check alone and never written anywhere.
    """
    if req.kind in RECORD_KINDS:
        raise InputError(f"{req.kind.value} is deposited as records, not as a file stream")
    tenant = deposit_tenant(ctx, req.tenant)
    check_objections(ctx, [req])
    received_at = ctx.now()
    retention = retention_for(  # before the key: a refused date leaves no key behind
        ctx, tenant, req.purpose, received_at, legal_hold=under_hold(ctx, req.tenant, [req.session])
    )
    key_id, dek = ctx.data_keys.data_key(req.tenant, req.subject, req.purpose.value)
    item_id = new_item_id(received_at)
    lock = retention.lock
    object_key = f"t/{req.tenant}/items/{item_id}"

    with ctx.sessions() as s:  # (1) intent (and the claim of its idempotency key, if any)
        s.add(
            Item(
                id=item_id,
                tenant_id=req.tenant,
                session=req.session,
                kind=req.kind.value,
                purpose=req.purpose.value,
                retention_class=req.retention_class.value,
                subject_key_id=key_id,
                state="writing",
                received_at=received_at,
                object_key=object_key,
                retain_until=retention.until,
                lock_mode=lock.mode,
                deposited_by=who.actor,
            )
        )
        if req.idempotency_key is None:
            s.commit()
        else:
            idempotency.claim_in(s, req, call="file", ids=[item_id], now=received_at)
            idempotency.commit_claim(s, req.idempotency_key)

    # (2) stream: hash plaintext (salted for an erasable item), encrypt, upload
    salt = new_salt() if salted_content(req.kind, req.purpose) else None
    enc = StreamEncryptor(dek, item_id.encode(), DEFAULT_CHUNK)
    signed = req.attested.signed if req.attested is not None else None
    hasher = _Hasher(salt, announced=expected_sha256 is not None or signed is not None)
    size = [0]
    stored_any = False

    def check_announced() -> None:
        """Runs once every byte is read, before the object exists."""
        if expected_sha256 is not None and (plain := hasher.plain_sha256()) != expected_sha256.lower():
            raise InputError(
                "the payload's SHA-256 is not the one announced",
                # an erasable item's plain digest is not repeated, not even to logs
                detail=f"announced {expected_sha256}, received "
                + (f"{size[0]} bytes that hash otherwise" if salt is not None else f"{plain} ({size[0]} bytes)"),
            )
        if signed is not None:  # the device signed this very content
            check_content(signed, hasher.plain_sha256(), size[0])

    try:
        produced = [0]
        parts = _parts(_ciphertext(src, enc, hasher, size, produced, max_size), ctx.settings.part_size)
        # hold back up to multipart_threshold bytes: a payload that fits goes in one PUT; a file
        # known to be larger starts its multipart upload with the first part
        threshold = ctx.settings.multipart_threshold
        big_file = (_remaining_size(src) or 0) > threshold
        head: list[bytes] = []
        held = 0
        exhausted = True
        for part in parts:
            head.append(part)
            held += len(part)
            if held > threshold or big_file:
                exhausted = False
                break
        if exhausted and held <= threshold:  # the whole payload is in hand: one PUT
            check_announced()
            stored: StoredObject = ctx.store.put(object_key, b"".join(head), lock)
        else:

            def all_parts() -> Iterator[bytes]:
                yield from head
                yield from parts

            stored = ctx.store.put_multipart(
                object_key,
                all_parts(),
                lock,
                concurrency=ctx.settings.upload_concurrency,
                before_complete=check_announced,
            )
        stored_any = True
        if stored.size != produced[0]:  # every byte read must be in the stored object
            raise StorageError(
                "stored object is not the whole payload", detail=f"{stored.size} of {produced[0]} bytes stored"
            )
    except BaseException:
        if not stored_any:  # nothing reached the store: the intent goes too, nothing is kept
            _drop_intent(ctx, item_id)
            if req.idempotency_key is not None:
                with contextlib.suppress(Exception):  # else taken over once the intent is orphaned
                    idempotency.release(ctx, req.tenant, req.idempotency_key)
        raise
    finally:
        sha256, sha3 = hasher.finish()
    fault_point("after-object-write")

    commitments, disclosures = commit_fields({**req.meta, "subject": req.subject})
    meta_sealed = encrypt_bytes(dek, item_id.encode() + b"/meta", canonical([d.encoded for d in disclosures]))
    pin = StoragePin(
        bucket=ctx.store.bucket,
        key=object_key,
        version_id=stored.version_id,
        offset=0,
        length=stored.size,
        ciphertext_sha256=stored.sha256,
        encryption=SCHEME,
        lock_mode=lock.mode,
        retain_until=lock.retain_until,
    )
    evidence, leaf = finish_manifest(
        item_id=item_id,
        req=req,
        received_at=received_at,
        size=size[0],
        sha256=sha256,
        sha3_256=sha3,
        commitments=commitments,
        pin=pin,
        salt_sealed=None if salt is None else seal_salt(dek, item_id, salt),
        dek=dek,
    )
    storage = {"bucket": ctx.store.bucket, "key": object_key, "version_id": stored.version_id}
    [receipt] = sign_receipts(
        ctx.sealer, tenant=req.tenant, received_at=received_at, storage=storage, items=[(item_id, evidence, leaf)]
    )
    manifest_version = store_manifests(ctx, object_key, lock, [receipt], {item_id: meta_sealed})
    if not lock.legal_hold and under_hold(ctx, req.tenant, [req.session]):  # a hold placed meanwhile
        ctx.store.set_legal_hold(object_key, stored.version_id, True)
        ctx.store.set_legal_hold(manifest_key(object_key), manifest_version, True)
    with ctx.sessions() as s:  # (3) durable: acknowledge
        done = s.execute(
            update(Item)
            .where(Item.id == item_id, Item.state == "writing")
            .values(
                state="stored",
                size=size[0],
                sha256=None if salt is not None else sha256,  # the index never holds a salted item's digest
                version_id=stored.version_id,
                offset=0,
                length=stored.size,
                evidence=evidence,
                leaf=leaf,
                meta_sealed=meta_sealed,
                receipt=receipt.encoded(),
            )
        )
        if (
            cast(CursorResult[Any], done).rowcount != 1
        ):  # recovery gave this deposit up meanwhile: it is not acknowledged
            s.rollback()
            raise VaultError("deposit abandoned", detail=f"item {item_id} was marked orphaned; retry")
        ctx.data_keys.check_live(s, {key_id})
        if req.idempotency_key is not None:
            idempotency.acknowledge_in(s, req.tenant, req.idempotency_key, [item_id])
        record(
            s,
            ctx,
            who,
            "deposit",
            tenant=req.tenant,
            subject=None if req.subject == "-" else req.subject,
            at=received_at,
            items=[item_id],
            kind=req.kind.value,
            purpose=req.purpose.value,
            session=req.session,
            **({} if salt is not None else {"sha256": sha256}),
        )
        s.commit()
    return receipt
