"""The checkpoint log in the index and the store: append a batch, publish a signed checkpoint,
prove inclusion and consistency from the stored hashes.

Leaf ``seq - 1`` is batch ``seq``'s ``batch.json``: the exact bytes its seal signs, which
the store keeps WORM and every proof folder carries. The sealer appends the leaf in the
batch's own transaction (:func:`next_row`: a few stored hashes read, about two written) and,
once the batch is committed, :func:`publish` signs the checkpoint for the new size and writes
it WORM as ``checkpoints/<size:012d>``, then records it in the index. Publishing never holds a
batch back: a failure is logged and the next sealing run publishes the head it missed.
Batches sealed before the log existed (an index migrated to revision 0006, or rebuilt from
the store) are appended by :func:`catch_up` from the index's copies of their manifests.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vault.checkpoint import tree
from vault.checkpoint.note import Checkpoint as Body
from vault.checkpoint.note import Signer, sign_checkpoint
from vault.context import VaultContext
from vault.errors import IndexTampered, InputError, NotFound, VaultError
from vault.index.models import Batch, Checkpoint
from vault.keys.notekey import ensure_note_key, load_note_key
from vault.retention.rules import MAX_PROOF_YEARS, add_months
from vault.storage.s3 import Lock

log = logging.getLogger("vault.checkpoint")

PREFIX = "checkpoints/"
CONTENT_TYPE = "text/plain; charset=utf-8"
_CATCH_UP_CHUNK = 500


def object_key(size: int) -> str:
    return f"{PREFIX}{size:012d}"


def log_size(s: Session) -> int:
    return int(s.scalar(select(func.max(Checkpoint.size))) or 0)


def _row_hashes(size: int, value: object) -> list[bytes]:
    want = len(tree.stored_nodes(size))
    if not isinstance(value, bytes) or len(value) != 32 * want:
        raise IndexTampered(f"checkpoints.hashes of size {size} is not {want} hashes of 32 bytes", check="checkpoint")
    return [value[i : i + 32] for i in range(0, len(value), 32)]


def reader(s: Session, *, extra: dict[tree.Node, bytes] | None = None) -> tree.Reader:
    """Stored hashes from the index's rows (``extra``: hashes not yet written)."""

    def read(nodes: Sequence[tree.Node]) -> list[bytes]:
        extra_ = extra or {}
        sizes = sorted({tree.row_of(n)[0] for n in nodes if n not in extra_})
        rows: dict[int, list[bytes]] = {}
        for i in range(0, len(sizes), 500):
            chunk = sizes[i : i + 500]
            for size, hashes in s.execute(
                select(Checkpoint.size, Checkpoint.hashes).where(Checkpoint.size.in_(chunk))
            ).all():
                rows[int(size)] = _row_hashes(int(size), hashes)
        out = []
        for n in nodes:
            if n in extra_:
                out.append(extra_[n])
                continue
            size, pos = tree.row_of(n)
            if size not in rows:
                raise NotFound("the checkpoint log has no such size", detail=f"size {size} is not in the index")
            out.append(rows[size][pos])
        return out

    return read


def next_row(s: Session, seq: int, manifest: bytes, now: dt.datetime) -> Checkpoint:
    """The log's row for batch ``seq`` (leaf ``seq - 1``, data ``manifest``), to add in the
    batch's transaction; the log must hold exactly ``seq - 1`` leaves."""
    size = log_size(s)
    if size != seq - 1:
        raise InputError("the checkpoint log is not at the batch before", detail=f"log size {size}, batch {seq}")
    leaf = tree.leaf_hash(manifest)
    nodes = tree.stored_nodes(seq)

    def compute(get: tree.Get) -> list[bytes]:
        hashes = tree.append_hashes(seq, leaf, get)
        mine = dict(zip(nodes, hashes, strict=True))
        root = tree.tree_hash(seq, lambda level, k: mine.get((level, k)) or get(level, k))
        return [*hashes, root]

    *hashes, root = tree.prove(compute, reader(s))
    return Checkpoint(size=seq, hashes=b"".join(hashes), root=root.hex(), created_at=now)


def catch_up(ctx: VaultContext) -> int:
    """Append the batches the log lacks (sealed before it existed, or the index rebuilt), in
    order, then take back the checkpoints the store holds for them; how many appended."""
    with ctx.sessions() as s:
        first = log_size(s) + 1
    added = _append_missing(ctx)
    if added:
        restore_notes(ctx, first, first + added - 1)
    return added


def restore_notes(ctx: VaultContext, first: int, last: int) -> int:
    """Checkpoints ``first..last`` as stored WORM (``checkpoints/``), back into the index where
    they open with the note key and sign the root the log recomputed; how many. One that signs
    another root is logged as an alarm: the batches are not those the checkpoint was signed over."""
    from vault.checkpoint.note import NoteError, open_checkpoint
    from vault.keys.notekey import note_verifier
    from vault.storage.listing import iter_versions

    verifier = note_verifier(ctx.settings)
    if verifier is None:
        return 0
    restored = 0
    for v in iter_versions(ctx.store, PREFIX):
        name = v.key[len(PREFIX) :]
        if v.delete_marker or not name.isdigit() or not first <= int(name) <= last:
            continue
        size = int(name)
        try:
            raw = ctx.store.get(v.key, v.version_id)
            cp = open_checkpoint(raw, verifier, origin=ctx.settings.log_origin)
        except (NoteError, VaultError) as e:
            log.warning("stored checkpoint %s@%s not restored: %s", v.key, v.version_id, e)
            continue
        with ctx.sessions() as s:
            if cp.size != size or cp.root != root_at(s, size):
                log.error("ALARM: stored checkpoint %s signs another log than the batches give (size %d)", v.key, size)
                continue
            done = s.execute(
                update(Checkpoint)
                .where(Checkpoint.size == size, Checkpoint.note.is_(None))
                .values(note=raw.decode(), version=v.version_id)
            )
            s.commit()
            restored += int(getattr(done, "rowcount", 0) or 0)
    return restored


def _append_missing(ctx: VaultContext) -> int:
    added = 0
    while True:
        with ctx.sessions() as s:
            size = log_size(s)
            batches = s.execute(
                select(Batch.seq, Batch.manifest).where(Batch.seq > size).order_by(Batch.seq).limit(_CATCH_UP_CHUNK)
            ).all()
            if not batches:
                return added
            for seq, manifest in batches:
                if seq != size + 1 or not isinstance(manifest, bytes):
                    log.warning("checkpoint log stops at %d: batch %d is missing or unreadable", size, size + 1)
                    s.commit()
                    return added
                s.add(next_row(s, seq, manifest, ctx.now()))
                s.flush()
                size, added = seq, added + 1
            s.commit()


def signed_any(s: Session) -> bool:
    return s.scalar(select(Checkpoint.size).where(Checkpoint.note.is_not(None)).limit(1)) is not None


def batch_lock(ctx: VaultContext, now: dt.datetime) -> Lock:
    """A checkpoint is kept as long as a batch: it is part of every later proof."""
    return Lock(ctx.settings.lock_mode, add_months(now, 12 * MAX_PROOF_YEARS))


def _signer(ctx: VaultContext) -> Signer:
    if ctx.settings.note_key_path.exists():
        return load_note_key(ctx.settings)
    with ctx.sessions() as s:  # a new key only for a log nobody has seen signed
        return ensure_note_key(ctx.settings, signed_before=signed_any(s))


def publish(ctx: VaultContext, size: int, lock: Lock | None = None, *, root: bytes | None = None) -> str:
    """Sign the checkpoint for ``size``, store it WORM, record it; the note (already published:
    the stored one). ``root``: the sealer's, of the row it just committed unpublished.
    Re-signing after a crash gives the same bytes (Ed25519 is deterministic)."""
    if root is None:
        with ctx.sessions() as s:
            row = s.get(Checkpoint, size)
            if row is None:
                raise NotFound("the checkpoint log has no such size", detail=str(size))
            if row.note is not None:
                return row.note
        root = root_at_row(size, row.root)
    note = sign_checkpoint(Body(ctx.settings.log_origin, size, root), _signer(ctx))
    stored = ctx.store.put(
        object_key(size), note.encode(), lock or batch_lock(ctx, ctx.now()), content_type=CONTENT_TYPE
    )
    with ctx.sessions() as s:
        s.execute(
            update(Checkpoint)
            .where(Checkpoint.size == size, Checkpoint.note.is_(None))
            .values(note=note, version=stored.version_id)
        )
        s.commit()
    log.info("published checkpoint %d (root %s)", size, root.hex()[:16])
    return note


def sync(ctx: VaultContext) -> None:
    """Before new batches: append the batches the log lacks and publish its head if it is not
    (a failure after a batch's commit, a migrated or rebuilt index). Two queries when in step."""
    with ctx.sessions() as s:
        head = s.execute(
            select(Checkpoint.size, Checkpoint.note.is_(None)).order_by(Checkpoint.size.desc()).limit(1)
        ).first()
        top = int(s.scalar(select(func.max(Batch.seq))) or 0)
    size, unpublished = (int(head[0]), bool(head[1])) if head is not None else (0, False)
    if top > size:
        catch_up(ctx)
        publish_head(ctx)
    elif unpublished:
        publish(ctx, size)


def publish_head(ctx: VaultContext, lock: Lock | None = None) -> str | None:
    """Publish the newest size if it is not yet."""
    with ctx.sessions() as s:
        size = log_size(s)
    return publish(ctx, size, lock) if size else None


# -- reading --------------------------------------------------------------------------------


def latest_note(s: Session) -> tuple[int, str]:
    row = s.execute(
        select(Checkpoint.size, Checkpoint.note)
        .where(Checkpoint.note.is_not(None))
        .order_by(Checkpoint.size.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NotFound("no checkpoint published yet", detail="checkpoints follow the first sealed batch")
    return int(row.size), str(row.note)


def note_at(s: Session, size: int) -> str:
    note = s.scalar(select(Checkpoint.note).where(Checkpoint.size == size))
    if not isinstance(note, str):
        raise NotFound("no checkpoint published for this size", detail=str(size))
    return note


def root_at(s: Session, size: int) -> bytes:
    root = s.scalar(select(Checkpoint.root).where(Checkpoint.size == size))
    if root is None:
        raise NotFound("the checkpoint log has no such size", detail=str(size))
    return root_at_row(size, root)


def root_at_row(size: int, root: object) -> bytes:
    try:
        value = bytes.fromhex(root)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = b""
    if len(value) != 32:
        raise IndexTampered(f"checkpoints.root of size {size} is not a hex SHA-256", check="checkpoint")
    return value


@dataclass(frozen=True)
class Consistency:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    proof: list[bytes]

    def as_json(self, origin: str) -> dict[str, object]:
        b64 = base64.b64encode
        return {
            "origin": origin,
            "from": self.old_size,
            "to": self.new_size,
            "old_root": b64(self.old_root).decode(),
            "new_root": b64(self.new_root).decode(),
            "proof": [b64(h).decode() for h in self.proof],
        }


def consistency(s: Session, old_size: int, new_size: int) -> Consistency:
    """The consistency proof between two sizes of the log (roots as the index computes them)."""
    if not 1 <= old_size <= new_size:
        raise InputError("a consistency proof goes from a size >= 1 to a size not smaller")
    proof = tree.prove(lambda get: tree.consistency_proof(old_size, new_size, get), reader(s))
    return Consistency(old_size, new_size, root_at(s, old_size), root_at(s, new_size), proof)


def inclusion(s: Session, seq: int, size: int) -> list[bytes]:
    """The audit path of batch ``seq`` (leaf ``seq - 1``) in the log of ``size``."""
    if not 1 <= seq <= size:
        raise InputError("batch is not in a log of this size", detail=f"batch {seq}, size {size}")
    return tree.prove(lambda get: tree.inclusion_proof(seq - 1, size, get), reader(s))
