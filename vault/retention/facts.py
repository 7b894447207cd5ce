"""Reading the index into the plain facts that :mod:`vault.retention.decide` decides on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.index.models import Hold, Item, Segment, SubjectKey, Tenant
from vault.retention.decide import HoldFacts, ItemFacts

#: items that are evidence (acknowledged): intents and orphans are never retained or destroyed
LIVE_STATES = ("stored", "sealed")


@dataclass(frozen=True)
class ItemRow:
    """An item's facts plus where its bytes are."""

    facts: ItemFacts
    object_key: str
    version_id: str | None
    subject_key_id: int


def to_row(item: Item, tenant: Tenant) -> ItemRow:
    return ItemRow(
        facts=ItemFacts(
            id=item.id,
            tenant=item.tenant_id,
            session=item.session,
            purpose=item.purpose,
            sealed=item.state == "sealed",
            disposal=item.disposal,
            received_at=item.received_at,
            committed_until=item.retain_until,
            archive_until=item.archive_until,
            proof_years=tenant.proof_years,
            service_ended_on=tenant.service_ended_on,
            kind=item.kind,
            segment=item.segment_id,
        ),
        object_key=item.object_key,
        version_id=item.version_id,
        subject_key_id=item.subject_key_id,
    )


def load_items(
    s: Session,
    *,
    tenant: str | None = None,
    subjects: Iterable[str] | None = None,
    ids: Iterable[str] | None = None,
    with_intents: bool = False,
) -> list[ItemRow]:
    """Live items (``with_intents``: also deposits being written, whose objects may exist)."""
    states = (*LIVE_STATES, "writing") if with_intents else LIVE_STATES
    q = select(Item, Tenant).join(Tenant, Tenant.id == Item.tenant_id).where(Item.state.in_(states)).order_by(Item.seq)
    if tenant is not None:
        q = q.where(Item.tenant_id == tenant)
    if subjects is not None:  # a subject's names: in clear, and shredded (see vault.privacy.shredding)
        q = q.join(SubjectKey, SubjectKey.id == Item.subject_key_id).where(SubjectKey.subject.in_(list(subjects)))
    if ids is not None:
        q = q.where(Item.id.in_(list(ids)))
    return [to_row(i, t) for i, t in s.execute(q).all()]


def load_holds(s: Session, *, tenant: str | None = None) -> list[HoldFacts]:
    q = select(Hold).where(Hold.released_at.is_(None))
    if tenant is not None:
        q = q.where(Hold.tenant_id == tenant)
    return [HoldFacts(h.id, h.tenant_id, h.session, h.item_id, h.case_ref) for h in s.scalars(q).all()]


def object_keys(rows: Iterable[ItemRow]) -> dict[str, list[ItemRow]]:
    """Object key -> the items whose bytes it holds (a segment holds many). Each key also has
    a manifests object next to it (``vault.ingest.common.manifest_key``), with the same lock."""
    out: dict[str, list[ItemRow]] = {}
    for r in rows:
        out.setdefault(r.object_key, []).append(r)
    return out


@dataclass
class OrphanObject:
    """An object written by deposits that never finished (``orphaned`` item or segment rows
    not yet dealt with): never acknowledged, never evidence."""

    tenant: str
    object_key: str
    since: dt.datetime  # the latest intent's time (vault clock)
    items: list[str] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    segments: list[str] = field(default_factory=list)
    shared_with: str | None = None  # an acknowledged (or in-flight) row pointing to the same object


def load_orphans(s: Session, *, tenant: str | None = None) -> list[OrphanObject]:
    """Objects of ``orphaned`` items and segments whose bytes the vault has not deleted yet,
    each with what else in the index still points to it (then it is never deleted)."""
    qi = select(Item).where(Item.state == "orphaned", Item.disposal.is_(None)).order_by(Item.seq)
    qs = select(Segment).where(Segment.state == "orphaned", Segment.deleted_at.is_(None)).order_by(Segment.id)
    if tenant is not None:
        qi = qi.where(Item.tenant_id == tenant)
        qs = qs.where(Segment.tenant_id == tenant)
    out: dict[str, OrphanObject] = {}
    named: dict[str, OrphanObject] = {}  # segment an orphaned item's row names -> its object
    for it in s.scalars(qi):
        o = out.setdefault(it.object_key, OrphanObject(it.tenant_id, it.object_key, it.received_at))
        o.items.append(it.id)
        o.sessions.add(it.session)
        o.since = max(o.since, it.received_at)
        if it.segment_id is not None:
            named[it.segment_id] = o
    for seg in s.scalars(qs):
        o = out.setdefault(seg.object_key, OrphanObject(seg.tenant_id, seg.object_key, seg.created_at))
        o.segments.append(seg.id)
        o.since = max(o.since, seg.created_at)
    by_segment = {sid: o for o in out.values() for sid in o.segments}
    names = list(named)
    for n in range(0, len(names), 500):
        for seg_id, state in s.execute(
            select(Segment.id, Segment.state).where(Segment.id.in_(names[n : n + 500]), Segment.state != "orphaned")
        ):
            if named[seg_id].shared_with is None:
                named[seg_id].shared_with = f"segment {seg_id} ({state})"
    keys = list(out)
    for n in range(0, len(keys), 500):
        chunk = keys[n : n + 500]
        seg_ids = [sid for k in chunk for sid in out[k].segments]
        for item_id, key, item_segment, state in s.execute(
            select(Item.id, Item.object_key, Item.segment_id, Item.state).where(
                Item.state != "orphaned", (Item.object_key.in_(chunk)) | (Item.segment_id.in_(seg_ids))
            )
        ):
            for hit in (out.get(key), by_segment.get(item_segment) if item_segment is not None else None):
                if hit is not None and hit.shared_with is None:
                    hit.shared_with = f"item {item_id} ({state})"
        for other_id, key, state in s.execute(
            select(Segment.id, Segment.object_key, Segment.state).where(
                Segment.state != "orphaned", Segment.object_key.in_(chunk)
            )
        ):
            if out[key].shared_with is None:
                out[key].shared_with = f"segment {other_id} ({state})"
    return list(out.values())


#: progress callback of long operations: (done, total)
Progress = Callable[[int, int], None]
