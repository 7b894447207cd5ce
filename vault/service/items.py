"""Reading and verifying items: show, content, proof folder, online verification, digest lookup.

Every lookup is scoped: an item of another tenant, and for a technician one it did not
deposit in the last 24 hours, is "no such item", exactly as if it did not exist. Reads are
journalled under the item's tenant and (pseudonymous) subject, so that a subject access lists
who read the subject's data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal, Role
from vault.context import VaultContext
from vault.errors import IndexTampered, InputError, NotFound
from vault.evidence.manifest import iso
from vault.index.models import Batch, Item, JournalEntry
from vault.journal.log import record
from vault.privacy.reading import check_read, subject_of, view_item
from vault.privacy.shredding import subject_ref_of
from vault.proof.payload import PayloadRead
from vault.retention.decide import Kept
from vault.retention.plan import decision_for
from vault.service.result import Result
from vault.verify.online import load_item
from vault.verify.online import verify_item as _verify_item
from vault.verify.report import Report

#: how long a technician may read back its own deposits (the client's own checks)
TECHNICIAN_READBACK = dt.timedelta(hours=24)
DIGEST_LOOKUP_LIMIT = 20


def find_item(ctx: VaultContext, who: Principal, item_id: str) -> tuple[Item, Batch | None]:
    """The item if ``who`` may know it exists; "no such item" otherwise, whatever the reason."""
    if not isinstance(item_id, str) or not 1 <= len(item_id) <= 40 or not item_id.isprintable():
        raise InputError("invalid item id", detail=repr(item_id)[:60])
    row, batch = load_item(ctx, item_id)
    if not who.sees_tenant(row.tenant_id):
        raise NotFound("no such item", detail=item_id)
    if who.role is Role.TECHNICIAN and (
        row.deposited_by != who.actor or row.received_at < ctx.now() - TECHNICIAN_READBACK
    ):
        raise NotFound("no such item", detail=item_id)
    return row, batch


def _journal_read(ctx: VaultContext, who: Principal, action: str, row: Item, **details: Any) -> None:
    ref = subject_ref_of(ctx, row.tenant_id, subject_of(ctx, row))
    with ctx.sessions() as s:
        record(s, ctx, who, action, tenant=row.tenant_id, subject_ref=ref, item=row.id, **details)
        s.commit()


def show_item(ctx: VaultContext, who: Principal, item_id: str) -> Result:
    """An item's fields as corrected, its retention decision and state."""
    row, _batch = find_item(ctx, who, item_id)
    authorize(who, Op.ITEM_READ, tenant=row.tenant_id)
    check_read(ctx, row, who)
    view = view_item(ctx, row)
    decision = decision_for(ctx, item_id, ctx.now())
    _journal_read(ctx, who, "read", row)
    doc = {
        "id": row.id,
        "tenant": row.tenant_id,
        "session": row.session,
        "kind": row.kind,
        "purpose": row.purpose,
        "received_at": iso(row.received_at),
        "retain_until": iso(decision.retain_until) if decision and decision.retain_until else None,
        "retention": (
            (decision.reason if isinstance(decision, Kept) else f"due ({decision.action.value}): {decision.rule}")
            if decision
            else None
        ),
        "status": row.disposal or "active",
        "fields": view.fields,
        "corrections": view.corrections,
        **({"original_fields": view.original} if view.corrections else {}),
    }
    return Result(doc)


@dataclass(frozen=True)
class Content:
    """The payload of an item, streamed and decrypted (each chunk authenticated as it comes)."""

    item_id: str
    kind: str
    size: int | None
    chunks: Iterator[bytes]


def item_content(ctx: VaultContext, who: Principal, item_id: str) -> Content:
    row, _batch = find_item(ctx, who, item_id)
    authorize(who, Op.ITEM_CONTENT, tenant=row.tenant_id)
    check_read(ctx, row, who)
    if row.evidence is None or row.state in ("writing", "orphaned"):
        raise NotFound("no such item", detail=item_id)
    chunks = PayloadRead(ctx, row).plaintext()
    _journal_read(ctx, who, "read", row, content=True)
    return Content(row.id, row.kind, row.size, chunks)


def proof_folder(ctx: VaultContext, who: Principal, item_id: str, out: Path) -> Result:
    """Write the item's self-contained proof folder to ``out`` (whole or not at all)."""
    from vault.proof.export import export_proof

    row, _batch = find_item(ctx, who, item_id)
    authorize(who, Op.ITEM_PROOF, tenant=row.tenant_id)
    check_read(ctx, row, who)
    path = export_proof(ctx, item_id, out)
    _journal_read(ctx, who, "export", row, out=str(path))
    return Result({"item": item_id, "out": str(path)})


def verify(ctx: VaultContext, who: Principal, item_id: str) -> Report:
    """Online verification: re-read the pinned versions and check every hash, seal and token.

    The index is not evidence: for a platform-wide principal, an item whose row is gone or
    does not read back is still verified from what is sealed (the journal's deposit entry
    names it), and a row of the wrong shape is a failed check, not an error. A tenant-scoped
    principal gets "no such item" then, since the row cannot say whose item it is.
    """
    try:
        row, _batch = find_item(ctx, who, item_id)
    except (NotFound, IndexTampered) as e:
        authorize(who, Op.VERIFY)
        if who.tenant is not None or (isinstance(e, NotFound) and not _sealed_deposit_names(ctx, item_id)):
            raise NotFound("no such item", detail=item_id) from None
        if isinstance(e, IndexTampered):
            report = Report(item_id)
            report.add(e.check, False, e.finding)
        else:
            report = _verify_item(ctx, item_id)
        with ctx.sessions() as s:
            record(s, ctx, who, "verify", item=item_id, status=report.status)
            s.commit()
        return report
    authorize(who, Op.VERIFY, tenant=row.tenant_id)
    report = _verify_item(ctx, item_id)
    _journal_read(ctx, who, "verify", row, status=report.status)
    return report


def _sealed_deposit_names(ctx: VaultContext, item_id: str) -> bool:
    """Does a journal deposit entry name this id? (Then the item existed, whatever the row says.)"""
    needle = item_id.encode()
    # SQLite's LIKE does not match inside a BLOB; PostgreSQL's works on bytea
    found = (
        func.instr(JournalEntry.body, needle) > 0
        if ctx.engine.dialect.name == "sqlite"
        else JournalEntry.body.contains(needle)
    )
    with ctx.sessions() as s:
        hit = s.scalars(select(JournalEntry.id).where(JournalEntry.action == "deposit", found).limit(1)).first()
    return hit is not None


def verify_digest(ctx: VaultContext, who: Principal, sha256: str) -> Result:
    """Is this document in the vault? Every item of ``who``'s scope whose content has this
    SHA-256, each verified online (at most ``DIGEST_LOOKUP_LIMIT``)."""
    authorize(who, Op.VERIFY_FILE)
    with ctx.sessions() as s:
        q = select(Item.id).where(Item.sha256 == sha256, Item.state.in_(("stored", "sealed")))
        if who.tenant is not None:
            q = q.where(Item.tenant_id == who.tenant)
        ids = list(s.scalars(q.order_by(Item.seq).limit(DIGEST_LOOKUP_LIMIT)).all())
    reports = []
    for item_id in ids:
        report = verify(ctx, who, item_id)
        # the index's digest is not evidence: only a report whose payload check passed counts
        reports.append(report.as_json())
    first = reports[0] if reports else None
    with ctx.sessions() as s:
        record(s, ctx, who, "verify_lookup", tenant=who.tenant, sha256=sha256, found=len(reports))
        s.commit()
    return Result(
        {
            "sha256": sha256,
            "valid": bool(first and first["valid"]),
            "status": first["status"] if first else "not_found",
            "item": first["item"] if first else None,
            "checks": first["checks"] if first else [],
            "info": first.get("info", {}) if first else {},
            "items": reports,
        }
    )
