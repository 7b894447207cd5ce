"""Reading the index into the plain facts that :mod:`vault.retention.decide` decides on."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.index.models import Hold, Item, SubjectKey, Tenant
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


#: progress callback of long operations: (done, total)
Progress = Callable[[int, int], None]
