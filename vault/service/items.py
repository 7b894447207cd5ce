"""Reading and verifying items: show, content, proof folder, online verification, digest lookup.

Every lookup is scoped: an item of another tenant, and for a technician one it did not
deposit in the last 24 hours, is "no such item", exactly as if it did not exist. Reads are
journalled under the item's tenant and (pseudonymous) subject, so that a subject access lists
who read the subject's data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, select

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal, Role
from vault.context import VaultContext
from vault.errors import IndexTampered, InputError, KeyError_, NotFound
from vault.evidence.manifest import is_salted, iso
from vault.evidence.sealed import evidence_of, open_salt
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


def verify(ctx: VaultContext, who: Principal, item_id: str, *, at: dt.datetime | None = None) -> Report:
    """Online verification: re-read the pinned versions and check every hash, seal and token;
    with ``at``, also whether its evidence record (with its renewals) proves it as of that date.

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
    if at is not None:
        if _batch is None:
            report.add("long_term", False, "not sealed yet: no evidence record")
        else:
            from vault.renewal.verify import check_long_term

            check_long_term(ctx, row, _batch, at, report)
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


#: erasable items of the looked-up file's size whose salted digest is tried (each costs one
#: more hash of the file); beyond that, the answer says how many were left untried
SALTED_CANDIDATE_LIMIT = 1000
#: what a lookup by content can and cannot find, said in every answer
LOOKUP_NOTE = (
    "transaction proofs are found by their SHA-256; erasable items by their salted digest "
    "(same tenant and size, each item's own salt); an erased or destroyed item can no longer "
    "be confirmed from its content"
)


def verify_digest(ctx: VaultContext, who: Principal, sha256: str) -> Result:
    """Is this document in the vault, by its SHA-256 alone? Only items with plain digests
    (transaction proofs) can be found so: an erasable item's evidence holds salted digests
    only, which need the file itself (:func:`verify_file`)."""
    authorize(who, Op.VERIFY_FILE)
    return _lookup_answer(ctx, who, sha256, _plain_matches(ctx, who, sha256), [], 0)


def verify_file(ctx: VaultContext, who: Principal, src: BinaryIO) -> Result:
    """Is this document in the vault? ``src`` is read (and re-read: it must be seekable) to
    find every item of ``who``'s scope with this content, each verified online (at most
    ``DIGEST_LOOKUP_LIMIT``): transaction proofs by the plain SHA-256 the index keeps; erasable
    items among those of the same tenant and size, by recomputing each candidate's salted
    digest with its decrypted salt. Erased items cannot be found (their salt is gone)."""
    authorize(who, Op.VERIFY_FILE)
    src.seek(0)
    h, size = hashlib.sha256(), 0
    while chunk := src.read(1 << 20):
        h.update(chunk)
        size += len(chunk)
    sha256 = h.hexdigest()
    plain = _plain_matches(ctx, who, sha256)
    salted, untried = _salted_matches(ctx, who, src, size)
    return _lookup_answer(ctx, who, sha256, plain, salted, untried)


def _scope(q: Any, who: Principal) -> Any:
    q = q.where(Item.state.in_(("stored", "sealed")))
    return q.where(Item.tenant_id == who.tenant) if who.tenant is not None else q


def _plain_matches(ctx: VaultContext, who: Principal, sha256: str) -> list[str]:
    with ctx.sessions() as s:
        q = _scope(select(Item.id).where(Item.sha256 == sha256), who)
        return list(s.scalars(q.order_by(Item.seq).limit(DIGEST_LOOKUP_LIMIT)).all())


def _salted_matches(ctx: VaultContext, who: Principal, src: BinaryIO, size: int) -> tuple[list[str], int]:
    """Erasable items whose salted digest is SHA-256(salt || the file): candidates of the same
    size (and tenant), live, salt decrypted with their data key; one more pass over the file
    hashes it once per candidate. The index is only a shortcut: the match is recomputed here
    from the sealed evidence, and each item found is then verified online."""
    with ctx.sessions() as s:
        q = _scope(
            select(Item).where(
                Item.size == size,
                Item.sha256.is_(None),
                Item.segment_id.is_(None),
                Item.disposal.is_(None) | Item.disposal.not_in(("erased", "destroyed")),
            ),
            who,
        )
        rows = list(s.scalars(q.order_by(Item.seq).limit(SALTED_CANDIDATE_LIMIT + 1)).all())
        s.expunge_all()
    untried = max(0, len(rows) - SALTED_CANDIDATE_LIMIT)
    wanted: list[tuple[str, str, Any]] = []
    for row in rows[:SALTED_CANDIDATE_LIMIT]:
        doc = evidence_of(row)
        if isinstance(doc, str) or not is_salted(doc):
            continue
        try:
            _key, dek = ctx.data_keys.by_id(row.subject_key_id)
            if dek is None:  # erased since: its content can no longer be confirmed
                continue
            salt = open_salt(dek, row.id, doc)
        except (InputError, KeyError_):
            continue  # verification of the item says what is wrong with it; a lookup skips it
        content = doc.get("content")
        want = content.get("salted_sha256") if isinstance(content, dict) else None
        if isinstance(want, str):
            wanted.append((row.id, want, hashlib.sha256(salt)))
    if not wanted:
        return [], untried
    src.seek(0)
    while chunk := src.read(1 << 20):
        for _id, _want, h in wanted:
            h.update(chunk)
    return [i for i, want, h in wanted if h.hexdigest() == want][:DIGEST_LOOKUP_LIMIT], untried


def _lookup_answer(
    ctx: VaultContext, who: Principal, sha256: str, plain: list[str], salted: list[str], untried: int
) -> Result:
    reports = []
    for item_id in (plain + salted)[:DIGEST_LOOKUP_LIMIT]:
        report = verify(ctx, who, item_id)
        # the index's digest is not evidence: only a report whose payload check passed counts
        reports.append(report.as_json())
    first = reports[0] if reports else None
    with ctx.sessions() as s:
        # the plain digest is journalled only when it is a transaction proof's (which keeps it
        # anyway): the digest of an erasable item's content, or of a guess at an erased one's,
        # is written nowhere
        details: dict[str, Any] = {"sha256": sha256} if plain else {}
        record(s, ctx, who, "verify_lookup", tenant=who.tenant, found=len(reports), **details)
        s.commit()
    note = LOOKUP_NOTE + (
        f"; {untried} more erasable item(s) of this size were not tried (narrow the lookup to a tenant)"
        if untried
        else ""
    )
    return Result(
        {
            "sha256": sha256,
            "valid": bool(first and first["valid"]),
            "status": first["status"] if first else "not_found",
            "item": first["item"] if first else None,
            "checks": first["checks"] if first else [],
            "info": first.get("info", {}) if first else {},
            "items": reports,
            "note": note,
        }
    )
