"""The data subject's rights within a tenant: access and portability, rectification,
restriction and objection (erasure is in :mod:`vault.privacy.erasure`).

Each request and its outcome is written to the journal in the same transaction as its effect.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.access.principal import SYSTEM, Principal
from vault.batch.stored import StoredLeaves
from vault.context import VaultContext, check_name
from vault.errors import InputError, KeyError_, NotFound, StorageError
from vault.evidence.kinds import Kind, Purpose
from vault.evidence.manifest import iso
from vault.evidence.sealed import content_sha256, evidence_of
from vault.index.models import Item, JournalEntry, SubjectKey, SubjectStatus, Tenant
from vault.ingest.common import DepositRequest
from vault.ingest.records import prepare_record, write_segment
from vault.journal.entry import parse_body
from vault.journal.log import record
from vault.privacy.reading import view_item
from vault.privacy.shredding import subject_names
from vault.proof.folder import atomic_folder, check_empty
from vault.proof.payload import PayloadRead
from vault.retention.decide import decide
from vault.retention.facts import load_holds, load_items
from vault.retention.policy import LegalBasis

ACCESS_TYPE = "vault-subject-access/1"


def _check(ctx: VaultContext, tenant: str, subject: str) -> None:
    check_name("tenant", tenant)
    check_name("subject", subject)
    with ctx.sessions() as s:
        if s.get(Tenant, tenant) is None:
            raise NotFound("no such tenant", detail=tenant)


def _status(s: Session, tenant: str, subject: str) -> SubjectStatus:
    st = s.get(SubjectStatus, (tenant, subject))
    if st is None:
        st = SubjectStatus(tenant_id=tenant, subject=subject, objections="{}")
        s.add(st)
    return st


# -- access and portability -------------------------------------------------------------------
def subject_access(
    ctx: VaultContext, tenant: str, subject: str, out: Path, *, who: Principal = SYSTEM
) -> dict[str, Any]:
    """Write ``subject.json`` (machine-readable, portable) and ``files/`` for the subject's
    file items into ``out`` (which must not exist or be empty); written whole or not at all."""
    _check(ctx, tenant, subject)
    out = check_empty(out)
    now = ctx.now()
    with ctx.sessions() as s:
        rows = load_items(s, tenant=tenant, subjects=subject_names(ctx, tenant, subject))
        holds = load_holds(s, tenant=tenant)
        status = s.get(SubjectStatus, (tenant, subject))
        items = {i.id: i for i in s.scalars(select(Item).where(Item.id.in_([r.facts.id for r in rows]))).all()}
        ref = ctx.pseudonyms.existing(tenant, subject, s)
        requests = (
            []
            if ref is None
            else [
                parse_body(e.body)
                for e in s.scalars(
                    select(JournalEntry).where(JournalEntry.subject_ref == ref).order_by(JournalEntry.seq)
                ).all()
            ]
        )
    leaves = StoredLeaves(ctx)
    with atomic_folder(out) as tmp:
        entries = []
        unavailable = 0
        for r in rows:
            it = items[r.facts.id]
            if it.kind == Kind.CORRECTION.value:
                continue  # shown inside the item it corrects
            rule = ctx.policy[it.purpose]
            d = decide(ctx.policy, r.facts, holds, now)
            entry: dict[str, Any] = {
                "id": it.id,
                "kind": it.kind,
                "session": it.session,
                "purpose": it.purpose,
                "purpose_label": rule.label,
                "legal_basis": rule.legal_basis.value,
                "retention_rule": rule.name,
                "received_at": iso(it.received_at),
                "retain_until": iso(d.retain_until) if d is not None and d.retain_until else None,
                "status": it.disposal or "active",
                "legal_hold": bool(d is not None and getattr(d, "hold", None)),
                "content_sha256": None,
                "fields": None,
                "file": None,
            }
            sealed = evidence_of(it, leaves)  # the digest given out is the sealed one, never the index's
            if isinstance(sealed, str):
                entry["status"] = "unavailable"
                entry["problem"] = f"the index row does not match its sealed evidence: {sealed}"
                entries.append(entry)
                unavailable += 1
                continue
            entry["content_sha256"] = content_sha256(sealed)
            if it.disposal in ("erased", "destroyed"):
                entry["status_detail"] = (
                    f"{it.disposal} on {iso(it.disposed_at)} ({it.disposal_rule})" if it.disposed_at else it.disposal
                )
            else:
                try:  # one missing or unreadable item never hides the others: it is listed with why
                    view = view_item(ctx, it)
                    entry["fields"] = view.fields
                    if view.corrections:
                        entry["corrections"] = view.corrections
                        entry["original_fields"] = view.original
                    if it.segment_id is None:
                        (tmp / "files").mkdir(exist_ok=True)
                        name = f"files/{it.id}"
                        try:
                            with open(tmp / name, "wb") as f:
                                for chunk in PayloadRead(ctx, it).plaintext():
                                    f.write(chunk)
                        except BaseException:
                            (tmp / name).unlink(missing_ok=True)
                            raise
                        entry["file"] = name
                except (NotFound, StorageError, KeyError_, InputError) as e:
                    entry["fields"] = None
                    entry.pop("corrections", None)
                    entry.pop("original_fields", None)
                    entry["status"] = "unavailable"
                    entry["problem"] = str(e)
                    unavailable += 1
            entries.append(entry)
        doc = {
            "type": ACCESS_TYPE,
            "tenant": tenant,
            "subject": subject,
            "generated_at": iso(now),
            "restricted": bool(status and status.restricted_at),
            "objections": json.loads(status.objections) if status else {},
            "items": entries,
            "requests": requests,
        }
        (tmp / "subject.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", "utf-8")
        with ctx.sessions() as s:
            record(
                s,
                ctx,
                who,
                "subject_access",
                tenant=tenant,
                subject=subject,
                at=now,
                items=len(entries),
                unavailable=unavailable,
            )
            s.commit()
    return {"out": str(out), "items": len(entries), "unavailable": unavailable}


# -- rectification ----------------------------------------------------------------------------
def rectify(
    ctx: VaultContext, tenant: str, subject: str, item_id: str, field: str, value: str, *, who: Principal = SYSTEM
) -> dict[str, Any]:
    """Deposit a sealed correction linked to the original item (which stays as evidence)."""
    _check(ctx, tenant, subject)
    with ctx.sessions() as s:
        row = s.execute(
            select(Item, SubjectKey)
            .join(SubjectKey, SubjectKey.id == Item.subject_key_id)
            .where(Item.id == item_id, Item.tenant_id == tenant)
        ).first()
    if row is None or row[1].subject not in subject_names(ctx, tenant, subject):
        raise NotFound("no such item of this subject in this tenant", detail=f"{item_id} ({tenant}/{subject})")
    item = row[0]
    if item.state not in ("stored", "sealed") or item.disposal in ("erased", "destroyed"):
        raise InputError(f"item {item_id} cannot be corrected", detail=f"it is {item.disposal or item.state}")
    if item.kind == Kind.CORRECTION.value:
        raise InputError("correct the original item, not a correction", detail=f"{item_id} corrects {item.corrects}")
    assert item.evidence is not None
    fields = json.loads(item.evidence)["commitments"]
    if field == "subject" or field not in fields:
        raise InputError(
            f"item {item_id} has no correctable field {field!r}",
            detail="fields: " + (", ".join(sorted(f for f in fields if f != "subject")) or "none"),
        )
    req = DepositRequest(
        tenant=tenant,
        session=item.session,
        kind=Kind.CORRECTION,
        purpose=Purpose(item.purpose),
        subject=subject,
        meta={},
        corrects=item_id,
    )
    # written like any record, but without deposit_records' objection check: an objection (art. 21)
    # stops new processing for the purpose, never the subject's own rectification (art. 16)
    [receipt] = write_segment(
        ctx, [prepare_record(req, {"corrects": item_id, "field": field, "value": value}, None, who)]
    )
    with ctx.sessions() as s:
        record(
            s,
            ctx,
            who,
            "subject_rectify",
            tenant=tenant,
            subject=subject,
            item=item_id,
            field=field,
            correction=receipt.item_id,
        )
        s.commit()
    return {"item": item_id, "correction": receipt.item_id, "field": field}


# -- restriction and objection ----------------------------------------------------------------
def restrict(
    ctx: VaultContext, tenant: str, subject: str, *, lift: bool = False, who: Principal = SYSTEM
) -> dict[str, Any]:
    _check(ctx, tenant, subject)
    now = ctx.now()
    with ctx.sessions() as s:
        st = _status(s, tenant, subject)
        st.restricted_at = None if lift else (st.restricted_at or now)
        record(s, ctx, who, "subject_restrict", tenant=tenant, subject=subject, at=now, lifted=lift)
        s.commit()
        return {
            "restricted": st.restricted_at is not None,
            "since": iso(st.restricted_at) if st.restricted_at else None,
        }


def object_to(ctx: VaultContext, tenant: str, subject: str, purpose: str, *, who: Principal = SYSTEM) -> dict[str, Any]:
    """Record an objection; it stops the purpose when its legal basis is legitimate interest."""
    _check(ctx, tenant, subject)
    try:
        p = Purpose(purpose)
    except ValueError:
        raise InputError(
            f"unknown purpose {purpose!r}", detail="expected one of " + ", ".join(x.value for x in Purpose)
        ) from None
    rule = ctx.policy.rules[p]
    now = ctx.now()
    accepted = rule.legal_basis is LegalBasis.LEGITIMATE_INTEREST
    reason = (
        "processing based on legitimate interest: stopped for this subject (GDPR art. 21(1))"
        if accepted
        else f"processing based on {rule.legal_basis.value.replace('_', ' ')}: the right to object does not apply "
        "(GDPR art. 21(1) covers art. 6(1)(e) and (f) only); the objection is recorded"
    )
    with ctx.sessions() as s:
        st = _status(s, tenant, subject)
        if accepted:
            objections = json.loads(st.objections or "{}")
            objections.setdefault(p.value, iso(now))
            st.objections = json.dumps(objections, sort_keys=True)
        record(
            s,
            ctx,
            who,
            "subject_object",
            tenant=tenant,
            subject=subject,
            at=now,
            purpose=p.value,
            accepted=accepted,
            reason=reason,
        )
        s.commit()
    return {"purpose": p.value, "accepted": accepted, "reason": reason}
