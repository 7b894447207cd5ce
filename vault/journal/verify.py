"""``vault journal verify``: prove the journal intact from the sealed, timestamped batches.

For every entry: its body hashes to its leaf, its query columns agree with its body, and its
path leads to the root of its batch. For every batch holding entries: the number of entries
in the index equals the count the sealed ``batch.json`` states (a deleted row shows), the
batch objects as stored WORM equal the index copies, the seal and the RFC 3161 token verify,
and the batches chain. Entries not sealed yet are counted, not proven.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from vault.context import VaultContext
from vault.errors import SealError, TimestampError
from vault.evidence.manifest import parse_iso
from vault.index.models import Batch, JournalEntry
from vault.journal.entry import path_problem
from vault.seal.cms import verify_detached
from vault.timestamp.client import verify_token
from vault.verify.online import stored_batch_objects


@dataclass
class JournalReport:
    entries: int = 0
    sealed: int = 0
    pending: int = 0
    batches: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "valid" if self.ok else "invalid",
            "entries": self.entries,
            "sealed": self.sealed,
            "pending": self.pending,
            "batches": self.batches,
            "problems": self.problems,
        }


def _check_entry(e: JournalEntry, report: JournalReport) -> None:
    if hashlib.sha256(e.body).digest() != e.leaf:
        report.problems.append(f"entry {e.seq} ({e.id}): body does not hash to its leaf (tampered)")
        return
    try:
        body = json.loads(e.body)
        same = (
            body["id"] == e.id
            and body["action"] == e.action
            and body["actor"] == e.actor
            and body["tenant"] == e.tenant_id
            and body["subject_ref"] == e.subject_ref
            and parse_iso(body["at"]) == e.at
        )
    except (ValueError, KeyError, TypeError) as err:
        report.problems.append(f"entry {e.seq} ({e.id}): body unreadable: {err}")
        return
    if not same:
        report.problems.append(f"entry {e.seq} ({e.id}): columns differ from the sealed body (tampered)")


def verify_journal(ctx: VaultContext) -> JournalReport:
    report = JournalReport()
    with ctx.sessions() as s:
        entries = list(s.scalars(select(JournalEntry).order_by(JournalEntry.seq)).all())
        batches = {b.seq: b for b in s.scalars(select(Batch).order_by(Batch.seq)).all()}
    report.entries = len(entries)
    by_batch: dict[int, list[JournalEntry]] = defaultdict(list)
    for e in entries:
        _check_entry(e, report)
        if e.batch_seq is None:
            report.pending += 1
            continue
        report.sealed += 1
        by_batch[e.batch_seq].append(e)
        batch = batches.get(e.batch_seq)
        if batch is None or e.path is None:
            report.problems.append(f"entry {e.seq} ({e.id}): batch {e.batch_seq} missing")
            continue
        problem = path_problem(e.leaf, e.path, batch.root)
        if problem:
            report.problems.append(f"entry {e.seq} ({e.id}) in batch {batch.seq}: {problem}")
    tsa_roots = [r for t in ctx.tsas for r in t.roots]
    previous = "00" * 32
    for seq in sorted(batches):
        b = batches[seq]
        if b.previous_root != previous:
            report.problems.append(f"batch {seq}: chain broken (previous root {b.previous_root}, expected {previous})")
        previous = b.root
        stated = json.loads(b.manifest).get("journal_entries", 0)
        if stated == 0 and not by_batch.get(seq):
            continue
        report.batches += 1
        _check_batch(ctx, b, stated, len(by_batch.get(seq, [])), tsa_roots, report)
    return report


def _check_batch(
    ctx: VaultContext, b: Batch, stated: int, found: int, tsa_roots: list[Any], report: JournalReport
) -> None:
    if stated != found or b.journal_entries != stated:
        report.problems.append(
            f"batch {b.seq}: sealed batch.json counts {stated} journal entries, the index holds {found} "
            "(entries deleted or moved)"
        )
    stored = stored_batch_objects(ctx, b)  # the WORM copies, compared with the index's
    if isinstance(stored, str):
        report.problems.append(f"batch {b.seq}: {stored}")
        return
    try:
        token = verify_token(stored["timestamp.tsr"], bytes.fromhex(b.root), tsa_roots)
        verify_detached(stored["seal.p7s"], stored["batch.json"], ctx.seal_roots, at=token.gen_time)
    except (TimestampError, SealError, ValueError) as err:
        report.problems.append(f"batch {b.seq}: seal or timestamp invalid: {err}")


def list_entries(
    ctx: VaultContext,
    *,
    since: dt.datetime | None = None,
    limit: int | None = None,
    tenant: str | None = None,
    action: str | None = None,
) -> list[dict[str, Any]]:
    with ctx.sessions() as s:
        q = select(JournalEntry).order_by(JournalEntry.seq)
        if since is not None:
            q = q.where(JournalEntry.at >= since)
        if tenant is not None:
            q = q.where(JournalEntry.tenant_id == tenant)
        if action is not None:
            q = q.where(JournalEntry.action == action)
        if limit is not None:
            q = q.limit(limit)
        return [{**json.loads(e.body), "seq": e.seq, "batch": e.batch_seq} for e in s.scalars(q).all()]
