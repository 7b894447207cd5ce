"""``vault audit``: walk the batch chain from the WORM objects and check the index against it.

The sealed batches are the truth; the index is an accelerator. The audit reads every batch
as stored (``batch.json``, ``leaves.json``, ``seal.p7s``, ``timestamp.tsr``, ``journal.json``),
checks its seal, token, tree and chain link, then looks up, batch by batch, the index rows of
its leaves: every sealed leaf must have its row (or a sealed destruction record), every row
must be under a sealed leaf of the batch it names, or still pending within the batch window,
and every sealed journal entry must have its row. Memory holds one batch at a time (at most
``batch_max_items`` leaves) plus the problems found.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select, true

from vault.audit.report import AuditReport
from vault.batch.manifest import BATCH_TYPE, GENESIS_ROOT
from vault.context import VaultContext
from vault.errors import NotFound, SealError, StorageError, TimestampError
from vault.index.models import Batch, Item, JournalEntry, Segment
from vault.seal.cms import verify_detached
from vault.storage.listing import Version, iter_versions
from vault.timestamp.client import verify_token
from vault.tree.hashtree import build_tree

CHUNK = 500
NAMED_FLUSH = 5_000
REQUIRED = ("batch.json", "leaves.json", "seal.p7s", "timestamp.tsr")


@dataclass
class StoredBatch:
    prefix: str
    versions: dict[str, list[Version]] = field(default_factory=dict)


def stored_batches(ctx: VaultContext) -> Iterator[StoredBatch]:
    """The batches in the store, in sequence order (their prefixes are zero-padded)."""
    current: StoredBatch | None = None
    for v in iter_versions(ctx.store, "batches/"):
        prefix, _, name = v.key.rpartition("/")
        prefix += "/"
        if current is None or current.prefix != prefix:
            if current is not None:
                yield current
            current = StoredBatch(prefix)
        current.versions.setdefault(name, []).append(v)
    if current is not None:
        yield current


def _chunks(seq: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(seq), CHUNK):
        yield seq[i : i + CHUNK]


def _b(value: object) -> bytes | None:
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None


class _Audit:
    def __init__(self, ctx: VaultContext, tenant: str | None, window: dt.timedelta) -> None:
        self.ctx = ctx
        self.tenant = tenant
        self.window = window
        self.report = AuditReport(tenant)
        self.tsa_roots = [r for t in ctx.tsas for r in t.roots]
        self.orphan_leaves: dict[bytes, str] = {}  # sealed item leaf without row -> where
        self.destroyed_leaves: set[bytes] = set()
        self.store_seqs: set[int] = set()

    @property
    def platform(self) -> bool:
        return self.tenant is None

    def mine(self, tenant: object) -> bool:
        return self.tenant is None or tenant == self.tenant

    # -- one stored batch ----------------------------------------------------------------------
    def read(self, b: StoredBatch) -> dict[str, bytes] | None:
        out: dict[str, bytes] = {}
        for name in (*REQUIRED, "journal.json"):
            versions = [v for v in b.versions.get(name, []) if not v.delete_marker]
            markers = [v for v in b.versions.get(name, []) if v.delete_marker]
            if not versions:
                if name != "journal.json":
                    self.report.add("batch_objects", b.prefix, f"{name} is missing from the store")
                    return None
                continue
            if len(versions) > 1 or markers:
                self.report.add(
                    "batch_objects", b.prefix, f"{name} has {len(versions)} versions and {len(markers)} delete markers"
                )
            oldest = versions[-1]  # what was written first is what was sealed
            try:
                out[name] = self.ctx.store.get(oldest.key, oldest.version_id)
            except (NotFound, StorageError) as e:
                self.report.add("batch_objects", b.prefix, f"{name} unreadable: {e}")
                return None
        return out

    def batch(self, b: StoredBatch, expected_seq: int, previous_root: str) -> tuple[int, str] | None:
        """Check one stored batch; (its seq, its root) to continue the chain, or None."""
        objs = self.read(b)
        if objs is None:
            return None
        try:
            manifest = json.loads(objs["batch.json"])
            assert isinstance(manifest, dict) and manifest.get("type") == BATCH_TYPE
            seq, root = int(manifest["seq"]), str(manifest["root"])
            n_items, n_journal = int(manifest["items"]), int(manifest["journal_entries"])
            leaves = [bytes.fromhex(h) for h in json.loads(objs["leaves.json"])["leaves"]]
        except (AssertionError, KeyError, TypeError, ValueError, RecursionError) as e:
            self.report.add("batch_objects", b.prefix, f"batch.json or leaves.json unreadable: {type(e).__name__}")
            return None
        if not b.prefix.startswith(f"batches/{seq:012d}-{root[:16]}"):
            self.report.add("batch_objects", b.prefix, f"batch.json says batch {seq} root {root}")
        self.report.batches += 1
        self.store_seqs.add(seq)
        for missing in range(expected_seq, seq):
            self.report.add("batch_missing", missing, f"batch {missing} is not in the store (next found: {seq})")
        try:
            token = verify_token(objs["timestamp.tsr"], bytes.fromhex(root), self.tsa_roots)
            verify_detached(objs["seal.p7s"], objs["batch.json"], self.ctx.seal_roots, at=token.gen_time)
        except (SealError, TimestampError, ValueError) as e:
            self.report.add("batch_seal", seq, str(e))
        if manifest.get("previous_root") != previous_root:
            self.report.add(
                "chain_broken", seq, f"names previous root {manifest.get('previous_root')}, expected {previous_root}"
            )
        if (
            not leaves
            or leaves[0].hex() != manifest.get("previous_root")
            or build_tree(leaves).root.hex() != root
            or len(leaves) != 1 + n_items + n_journal
        ):
            self.report.add("batch_tree", seq, "leaves.json does not match the sealed root or counts")
            return seq, root
        self.report.sealed_items += n_items
        self.report.sealed_entries += n_journal
        with self.ctx.sessions() as s:
            row = s.get(Batch, seq)
            if row is None:
                self.report.add("batch_row_missing", seq, f"sealed batch {seq} (root {root}) has no index row")
            elif row.root != root or row.manifest != objs["batch.json"]:
                self.report.add("batch_row_mismatch", seq, "the index's batch row differs from the stored batch")
        self.items(seq, leaves[1 : 1 + n_items])
        bodies: list[bytes] = []
        if n_journal:
            try:
                bodies = [str(e).encode() for e in json.loads(objs.get("journal.json", b"{}"))["entries"]]
            except (KeyError, TypeError, ValueError, RecursionError):
                bodies = []
            if [hashlib.sha256(x).digest() for x in bodies] != leaves[1 + n_items :]:
                self.report.add("batch_tree", seq, "journal.json does not match the journal leaves")
            else:
                self.journal(seq, bodies)
        return seq, root

    def items(self, seq: int, leaves: list[bytes]) -> None:
        wanted = set(leaves)
        found: set[bytes] = set()
        with self.ctx.sessions() as s:
            for chunk in _chunks(leaves):
                rows = s.execute(
                    select(Item.id, Item.leaf, Item.evidence, Item.batch_seq, Item.state, Item.tenant_id).where(
                        Item.leaf.in_(chunk)
                    )
                ).all()
                for r in rows:
                    leaf = _b(r.leaf)
                    if leaf is None:
                        continue
                    found.add(leaf)
                    if not self.mine(r.tenant_id):
                        continue
                    ev = _b(r.evidence)
                    why = None
                    if ev is None or hashlib.sha256(ev).digest() != leaf:
                        why = "items.evidence does not hash to its sealed leaf"
                    elif r.batch_seq != seq or r.state != "sealed":
                        why = f"sealed in batch {seq}, the row says batch {r.batch_seq} ({r.state})"
                    else:
                        try:
                            if json.loads(ev).get("id") != r.id:
                                why = "items.id is not the id of its sealed evidence"
                        except (ValueError, AttributeError, RecursionError):
                            why = "items.evidence is not JSON"
                    if why:
                        self.report.add("item_row_mismatch", r.id, why)
            for leaf in wanted - found:
                self.orphan_leaves[leaf] = f"leaf {leaf.hex()} of batch {seq}"
            q = select(Item.id, Item.leaf, Item.tenant_id).where(Item.batch_seq == seq)
            for item_id, item_leaf, item_tenant in s.execute(q):
                if self.mine(item_tenant) and _b(item_leaf) not in wanted:
                    self.report.add(
                        "item_not_in_batch", item_id, f"the row names batch {seq}, whose leaves do not hold it"
                    )

    def journal(self, seq: int, bodies: list[bytes]) -> None:
        by_leaf = {hashlib.sha256(b).digest(): b for b in bodies}
        named: dict[str, dict[str, Any]] = {}  # deposit entries: item id -> entry details
        found: set[bytes] = set()
        with self.ctx.sessions() as s:
            for chunk in _chunks(list(by_leaf)):
                for r in s.execute(
                    select(JournalEntry.id, JournalEntry.leaf, JournalEntry.body, JournalEntry.batch_seq).where(
                        JournalEntry.leaf.in_(chunk)
                    )
                ):
                    leaf = _b(r.leaf)
                    if leaf is None:
                        continue
                    found.add(leaf)
                    if _b(r.body) != by_leaf[leaf] or r.batch_seq != seq:
                        self.report.add("journal_row_mismatch", r.id, f"differs from its body sealed in batch {seq}")
            for leaf, body in by_leaf.items():
                try:
                    doc = json.loads(body)
                except (ValueError, RecursionError):
                    continue
                if not isinstance(doc, dict) or not self.mine(doc.get("tenant")):
                    continue
                raw = doc.get("details")
                details: dict[str, Any] = raw if isinstance(raw, dict) else {}
                if leaf not in found:
                    self.report.add(
                        "journal_row_missing",
                        doc.get("id", leaf.hex()),
                        f"{doc.get('action')} entry of {doc.get('at')} sealed in batch {seq} has no index row",
                    )
                if doc.get("action") == "deposit":
                    for item_id in details.get("items", []):
                        if isinstance(item_id, str):
                            named[item_id] = {"tenant": doc.get("tenant"), "segment": details.get("segment")}
                    if len(named) >= NAMED_FLUSH:  # bounded: a batch may carry millions of deposited ids
                        self._check_named(s, named, seq)
                elif doc.get("action") == "destroy":
                    for it in details.get("items", []):
                        if isinstance(it, dict) and isinstance(it.get("leaf"), str):
                            with contextlib.suppress(ValueError):
                                self.destroyed_leaves.add(bytes.fromhex(it["leaf"]))
            for row in s.execute(
                select(JournalEntry.id, JournalEntry.leaf, JournalEntry.tenant_id).where(JournalEntry.batch_seq == seq)
            ):
                if self.mine(row.tenant_id) and _b(row.leaf) not in by_leaf:
                    self.report.add(
                        "journal_not_in_batch", row.id, f"the row names batch {seq}, whose leaves do not hold it"
                    )
            self._check_named(s, named, seq)

    def _check_named(self, s: Any, named: dict[str, dict[str, Any]], seq: int) -> None:
        """Every item a sealed deposit entry names has its row (then ``named`` is emptied)."""
        ids = list(named)
        present: set[str] = set()
        for chunk in _chunks(ids):
            present.update(s.scalars(select(Item.id).where(Item.id.in_(chunk))).all())
        for item_id in ids:
            if item_id not in present:
                self.missing_item(item_id, named[item_id], seq)
        named.clear()

    def missing_item(self, item_id: str, entry: dict[str, Any], entry_batch: int) -> None:
        """A deposit sealed in the journal whose item row is gone: find its leaf in its stored
        manifest, so that the report names the item and where it is sealed."""
        tenant, segment = entry.get("tenant"), entry.get("segment")
        leaf: bytes | None = None
        try:
            if segment:
                keys = [
                    v for v in iter_versions(self.ctx.store, f"t/{tenant}/segments/")
                    if v.key.endswith(f"/{segment}.manifest.json") and not v.delete_marker
                ]  # fmt: skip
            else:
                keys = [
                    v
                    for v in iter_versions(self.ctx.store, f"t/{tenant}/items/{item_id}.manifest.json")
                    if not v.delete_marker
                ]
            for v in keys[-1:]:
                manifest = json.loads(self.ctx.store.get(v.key, v.version_id))
                for it in manifest.get("items", []):
                    if it.get("id") == item_id:
                        leaf = hashlib.sha256(str(it["evidence"]).encode()).digest()
        except (NotFound, StorageError, ValueError, KeyError, TypeError, AttributeError):
            leaf = None
        where = f"deposited in the journal (entry sealed in batch {entry_batch})"
        if leaf is not None and leaf in self.orphan_leaves:
            where = f"sealed as {self.orphan_leaves.pop(leaf)}"
        elif leaf is not None and leaf in self.destroyed_leaves:
            return  # destroyed under a sealed destruction record
        self.report.add("item_row_missing", item_id, f"{where}; no index row")

    # -- the index side ------------------------------------------------------------------------
    def index_rows(self) -> None:
        now = self.ctx.now()
        cutoff = now - self.window
        last = max(self.store_seqs, default=0)
        gaps = [n for n in range(1, last + 1) if n not in self.store_seqs]
        tenant_item = Item.tenant_id == self.tenant if self.tenant else true()
        tenant_entry = JournalEntry.tenant_id == self.tenant if self.tenant else true()
        with self.ctx.sessions() as s:
            q = select(Item.id, Item.batch_seq).where(
                tenant_item,
                Item.state == "sealed",
                or_(Item.batch_seq.is_(None), Item.batch_seq > last, Item.batch_seq.in_(gaps)),
            )
            for item_id, batch_seq in s.execute(q):
                self.report.add("item_not_in_batch", item_id, f"the row says batch {batch_seq}, not in the store")
            q2 = select(Item.id, Item.received_at).where(tenant_item, Item.state == "stored")
            for item_id, received_at in s.execute(q2):
                self.report.pending_items += 1
                if isinstance(received_at, dt.datetime) and received_at < cutoff:
                    detail = f"stored {received_at.isoformat()}, not sealed since"
                    self.report.add("item_unsealed_too_long", item_id, detail)
            self.report.index_items = int(
                s.scalar(
                    select(func.count()).select_from(Item).where(tenant_item, Item.state.in_(("stored", "sealed")))
                )
                or 0
            )
            dangling = s.execute(
                select(Item.segment_id, Item.id)
                .outerjoin(Segment, Segment.id == Item.segment_id)
                .where(tenant_item, Item.segment_id.is_not(None), Segment.id.is_(None))
            ).all()
            seen: set[str | None] = set()
            for seg, item_id in dangling:
                if seg not in seen:
                    seen.add(seg)
                    self.report.add("segment_row_missing", str(seg), f"item {item_id} (and maybe others) point to it")
            unsealed = select(JournalEntry.id, JournalEntry.at).where(
                tenant_entry, JournalEntry.batch_seq.is_(None), JournalEntry.at < cutoff
            )
            for entry_id, at in s.execute(unsealed):
                self.report.add("journal_unsealed_too_long", entry_id, f"recorded {at}, not sealed since")
            outside = select(JournalEntry.id, JournalEntry.batch_seq).where(
                tenant_entry,
                and_(
                    JournalEntry.batch_seq.is_not(None),
                    or_(JournalEntry.batch_seq > last, JournalEntry.batch_seq.in_(gaps)),
                ),
            )
            for entry_id, batch_seq in s.execute(outside):
                self.report.add("journal_not_in_batch", entry_id, f"the row names batch {batch_seq}, not in the store")
            if self.platform:
                for (seq,) in s.execute(select(Batch.seq)):
                    if seq not in self.store_seqs:
                        self.report.add("batch_row_extra", seq, "the index has this batch; the store does not")

    def finish(self) -> None:
        if self.platform:
            for leaf, where in self.orphan_leaves.items():
                if leaf not in self.destroyed_leaves:
                    self.report.add("item_row_missing", leaf.hex(), f"sealed {where}; no index row names it")


def audit(ctx: VaultContext, *, tenant: str | None = None, window: dt.timedelta | None = None) -> AuditReport:
    """The completeness audit of the whole chain (``tenant``: report only that tenant's rows;
    chain-level problems, which no tenant owns, are reported in the platform scope only)."""
    started = time.monotonic()
    a = _Audit(ctx, tenant, window or dt.timedelta(seconds=max(300.0, 20 * ctx.settings.batch_max_seconds)))
    expected, previous = 1, GENESIS_ROOT
    for b in stored_batches(ctx):
        got = a.batch(b, expected, previous)
        if got is not None:
            expected, previous = got[0] + 1, got[1]
    a.index_rows()
    a.finish()
    a.report.seconds = time.monotonic() - started
    return a.report
