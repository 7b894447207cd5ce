"""Close batches: tree over pending items, seal, timestamp, store WORM, then index.

Nothing is written before the token is in hand and verified: if every TSA is down the
call raises :class:`TSAUnavailable` and the items simply stay ``stored`` (pending) for the
next attempt. The batch objects are written before the index commit; a crash in between
leaves unreferenced (harmless) objects and the same items are batched again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import func, select, update

from vault.batch.manifest import GENESIS_ROOT, batch_manifest, path_json
from vault.checkpoint import log as checkpoints
from vault.context import VaultContext
from vault.errors import VaultError
from vault.evidence.canonical import canonical_known
from vault.index.db import seal_lock
from vault.index.models import Batch, Checkpoint, Item, JournalEntry
from vault.retention.rules import MAX_PROOF_YEARS, add_months
from vault.seal.cms import verify_detached
from vault.storage.s3 import Lock
from vault.timestamp.client import chain_pem, stamp
from vault.tree.hashtree import build_tree

log = logging.getLogger("vault.batch")


@dataclass(frozen=True)
class SealedBatch:
    seq: int
    root: str
    items: int
    tsa_url: str
    gen_time: str
    journal_entries: int = 0


def pending_count(ctx: VaultContext) -> int:
    """Items and journal entries waiting for a batch."""
    with ctx.sessions() as s:
        items = s.scalar(select(func.count()).select_from(Item).where(Item.state == "stored")) or 0
        entries = s.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.batch_seq.is_(None))) or 0
        return int(items) + int(entries)


def seal_pending(ctx: VaultContext, *, max_batches: int | None = None) -> list[SealedBatch]:
    """Seal everything pending, in batches of at most ``batch_max_items``."""
    done: list[SealedBatch] = []
    with seal_lock(ctx.engine, ctx.settings.run_dir):
        _checkpoint_catch_up(ctx)
        while max_batches is None or len(done) < max_batches:
            result = _seal_one(ctx)
            if result is None:
                break
            done.append(result)
    return done


def _checkpoint_catch_up(ctx: VaultContext) -> None:
    """Batches sealed before the checkpoint log existed, and a head whose checkpoint was not
    published (a failure after the batch's commit): signed before new batches are added."""
    try:
        checkpoints.sync(ctx)
    except Exception as e:  # sealing goes on; the next run tries again
        log.error("checkpoint log: %s", e, exc_info=not isinstance(e, VaultError))


def _publish(ctx: VaultContext, seq: int, lock: Lock, root: str) -> None:
    try:
        checkpoints.publish(ctx, seq, lock, root=bytes.fromhex(root))
    except Exception as e:  # the batch is sealed; its checkpoint follows with the next run
        log.error("checkpoint %d not published: %s", seq, e, exc_info=not isinstance(e, VaultError))


def _seal_one(ctx: VaultContext) -> SealedBatch | None:
    limit = ctx.settings.batch_max_items
    with ctx.sessions() as s:
        head = s.scalars(select(Batch).order_by(Batch.seq.desc()).limit(1)).first()
        rows = s.execute(
            select(Item.seq, Item.id, Item.leaf, Item.retain_until)
            .where(Item.state == "stored")
            .order_by(Item.seq)
            .limit(limit)
        ).all()
        # the journal rides in the same batches: its entries are sealed exactly like evidence
        room = limit - len(rows)
        entries = (
            s.execute(
                select(JournalEntry.seq, JournalEntry.leaf, JournalEntry.body)
                .where(JournalEntry.batch_seq.is_(None))
                .order_by(JournalEntry.seq)
                .limit(room)
            ).all()
            if room > 0
            else []
        )
    if not rows and not entries:
        return None
    previous_root = head.root if head else GENESIS_ROOT
    seq = head.seq + 1 if head else 1
    tree = build_tree([bytes.fromhex(previous_root), *(r.leaf for r in rows), *(e.leaf for e in entries)])
    now = ctx.now()
    # Batch objects hold only hashes, and every later batch's proof runs through them: they
    # outlive any item they cover, for the longest proof period a contract may ask for.
    retain_until = max([add_months(now, 12 * MAX_PROOF_YEARS), *(r.retain_until for r in rows)])
    manifest = batch_manifest(
        seq=seq,
        created_at=now,
        tree=tree,
        previous_root=previous_root,
        retain_until=retain_until,
        journal_entries=len(entries),
    )
    seal = ctx.sealer.seal(manifest)
    verify_detached(seal, manifest, ctx.seal_roots)  # never write a batch its own verifier would refuse
    token = stamp(ctx.tsas, tree.root)  # raises TSAUnavailable: nothing written, items stay pending

    root = tree.root.hex()
    prefix = f"batches/{seq:012d}-{root[:16]}/"
    lock = Lock(ctx.settings.lock_mode, retain_until)
    objects = [
        ("batch.json", manifest),
        ("leaves.json", canonical_known({"leaves": [leaf.hex() for leaf in tree.levels[0]]})),
        ("seal.p7s", seal),
        ("timestamp.tsr", token.tsr),
    ]
    if entries:  # the journal survives the loss of the index: each body hashes to its leaf
        objects.append(("journal.json", canonical_known({"entries": [e.body.decode() for e in entries]})))
    versions = {name: ctx.store.put(prefix + name, data, lock).version_id for name, data in objects}
    tsa_chain = chain_pem(token, ctx.tsas)
    with ctx.sessions() as s:
        try:  # the checkpoint log's leaf for this batch (vault.checkpoint): a few reads
            log_row: Checkpoint | None = checkpoints.next_row(s, seq, manifest, now)
        except VaultError as e:  # never holds a batch back: the log catches up later
            log.error("checkpoint log not extended by batch %d: %s", seq, e)
            log_row = None
        s.add(
            Batch(
                seq=seq,
                root=root,
                previous_root=previous_root,
                manifest=manifest,
                seal=seal,
                tsr=token.tsr,
                tsa_url=token.tsa_url,
                tsa_chain=tsa_chain,
                gen_time=token.gen_time,
                leaf_count=tree.size,
                journal_entries=len(entries),
                object_prefix=prefix,
                versions=json.dumps(versions, sort_keys=True),
                created_at=now,
            )
        )
        if log_row is not None:
            s.add(log_row)
        s.flush()
        s.execute(
            update(Item),
            [
                {
                    "seq": r.seq,
                    "state": "sealed",
                    "batch_seq": seq,
                    "path": json.dumps(path_json(r.leaf, tree.path(i + 1), i + 1)),
                }
                for i, r in enumerate(rows)
            ],
        )
        if entries:
            first = len(rows) + 1
            s.execute(
                update(JournalEntry),
                [
                    {
                        "seq": e.seq,
                        "batch_seq": seq,
                        "path": json.dumps(path_json(e.leaf, tree.path(first + i), first + i)),
                    }
                    for i, e in enumerate(entries)
                ],
            )
        s.commit()
    if log_row is not None:
        _publish(ctx, seq, lock, log_row.root)
    log.info("sealed batch %d: %d items, %d journal entries, root %s", seq, len(rows), len(entries), root)
    return SealedBatch(seq, root, len(rows), token.tsa_url, token.gen_time.isoformat(), len(entries))
