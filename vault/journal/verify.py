"""``vault journal verify``: prove the journal intact from the sealed, timestamped batches.

For every entry: its body hashes to its leaf, its query columns agree with its body, and its
path leads to the root of its batch. For every batch: the number of entries in the index
equals the count the sealed ``batch.json`` states (a deleted row shows), the batch objects as
stored WORM equal the index copies, the index's row agrees with the stored ``batch.json`` and
token, the seal and the RFC 3161 token verify, and the batches chain. Entries not sealed yet
are counted, not proven.

Every value comes from the index and is read as untrusted input: a value of another SQL type
than the vault writes (even with the same bytes), NULL where a value belongs, bad JSON or JSON
nested too deep is a problem named after its column, never an exception.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from vault.context import VaultContext
from vault.errors import IndexTampered, InputError, SealError, TimestampError
from vault.evidence.manifest import iso, parse_iso
from vault.index.db import CONVERSION_ERRORS, checked_rows, row_problems
from vault.index.models import Batch, JournalEntry
from vault.journal.entry import JOURNAL_TYPE, parse_body, path_problem
from vault.seal.cms import verify_detached
from vault.timestamp.client import verify_token
from vault.verify.online import batch_row_problems, stored_batch_objects
from vault.verify.proof_checks import load_json


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
    if hashlib.sha256(bytes(e.body)).digest() != e.leaf:
        report.problems.append(f"entry {e.seq} ({e.id}): body does not hash to its leaf (tampered)")
        return
    try:
        body = parse_body(e.body)
        columns = {
            "id": (e.id, body["id"]),
            "action": (e.action, body["action"]),
            "actor": (e.actor, body["actor"]),
            "tenant_id": (e.tenant_id, body["tenant"]),
            "subject_ref": (e.subject_ref, body["subject_ref"]),
            "at": (e.at, parse_iso(body["at"])),
        }
        if body.get("type") != JOURNAL_TYPE:
            raise InputError(f"journal.body is not a {JOURNAL_TYPE} entry")
    except (InputError, ValueError, KeyError, TypeError, AttributeError) as err:
        report.problems.append(f"entry {e.seq} ({e.id}): body unreadable: {err}")
        return
    differ = [f"journal.{name}" for name, (column, sealed) in columns.items() if column != sealed]
    if differ:
        report.problems.append(f"entry {e.seq} ({e.id}): {', '.join(differ)} differ from the sealed body (tampered)")


def verify_journal(ctx: VaultContext) -> JournalReport:
    report = JournalReport()
    try:
        with ctx.sessions() as s:
            rows = checked_rows(s, JournalEntry, order_by="seq")
            batch_rows = checked_rows(s, Batch, order_by="seq")
    except IndexTampered as err:
        report.problems.append(str(err))
        return report
    batches: dict[int, Batch] = {}
    for b, problems in batch_rows:
        if problems:
            report.problems.append(f"batch {b.seq!r}: its index row is unreadable: {'; '.join(problems)}")
        else:
            batches[b.seq] = b
    report.entries = len(rows)
    by_batch: dict[int, list[JournalEntry]] = defaultdict(list)
    for e, problems in rows:
        if problems:
            report.problems.append(f"entry {e.seq!r} ({e.id!r}): its index row is unreadable: {'; '.join(problems)}")
            if isinstance(e.batch_seq, int) and not isinstance(e.batch_seq, bool):
                by_batch[e.batch_seq].append(e)  # still counted where it says it is
            continue
        _check_entry(e, report)
        if e.batch_seq is None:
            report.pending += 1
            continue
        report.sealed += 1
        by_batch[e.batch_seq].append(e)
        batch = batches.get(e.batch_seq)
        if batch is None:
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
        if _check_batch(ctx, b, len(by_batch.get(seq, [])), tsa_roots, report):
            report.batches += 1
    return report


def _check_batch(ctx: VaultContext, b: Batch, found: int, tsa_roots: list[Any], report: JournalReport) -> bool:
    """Check one batch against its WORM objects; whether it holds journal entries."""
    stored = stored_batch_objects(ctx, b)  # the WORM copies, compared with the index's
    if isinstance(stored, str):
        report.problems.append(f"batch {b.seq}: {stored}")
        return found > 0
    try:
        manifest = load_json(stored["batch.json"], f"batch.json of batch {b.seq}")
    except InputError as err:
        report.problems.append(f"batch {b.seq}: {err}")
        return found > 0
    stated = manifest.get("journal_entries", 0)
    if stated != found:
        report.problems.append(
            f"batch {b.seq}: sealed batch.json counts {stated} journal entries, the index holds {found} "
            "(entries deleted or moved)"
        )
    try:
        token = verify_token(stored["timestamp.tsr"], bytes.fromhex(str(manifest.get("root"))), tsa_roots)
        verify_detached(stored["seal.p7s"], stored["batch.json"], ctx.seal_roots, at=token.gen_time)
    except (TimestampError, SealError, ValueError) as err:
        report.problems.append(f"batch {b.seq}: seal or timestamp invalid: {err}")
        return bool(stated or found)
    differ = batch_row_problems(b, manifest, token.gen_time)
    if differ:
        report.problems.append(f"batch {b.seq}: the index's row differs from what is sealed: {'; '.join(differ)}")
    return bool(stated or found)


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
        try:
            rows = list(s.scalars(q).all())
        except CONVERSION_ERRORS as err:
            raise IndexTampered("journal rows are unreadable", detail=f"{err}; run `vault journal verify`") from None
    return [_listed(e) for e in rows]


def _listed(e: JournalEntry) -> dict[str, Any]:
    """An entry as listed: its sealed body, or, when the index's copy of it is not readable, its
    query columns marked ``unreadable`` (``vault journal verify`` says what is wrong)."""
    problems = row_problems(e)
    if not problems:
        try:
            return {**parse_body(e.body), "seq": e.seq, "batch": e.batch_seq}
        except InputError as err:
            problems = [str(err)]
    return {
        "id": str(e.id),
        "at": iso(e.at) if isinstance(e.at, dt.datetime) else str(e.at),
        "actor": str(e.actor),
        "role": "?",
        "action": str(e.action),
        "tenant": e.tenant_id if isinstance(e.tenant_id, str) else None,
        "subject_ref": e.subject_ref if isinstance(e.subject_ref, str) else None,
        "details": {},
        "unreadable": "; ".join(problems),
        "seq": e.seq,
        "batch": e.batch_seq if isinstance(e.batch_seq, int) else None,
    }
