"""Recovery of deposits interrupted by a crash.

An intent (item row ``writing``, or segment row without a version) older than the grace
period belongs to a deposit that never finished: it was never acknowledged, so nothing
promised is lost. It is marked ``orphaned`` and stays in the index for the record; any
bytes it left in object storage are locked but are never treated as evidence. The retention
run deletes them once their lock has ended (``vault.retention.apply.delete_orphans``), and an
erasure destroys their data key whatever their state (``vault.privacy.erasure``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from vault.context import VaultContext
from vault.index.models import Item, Segment


@dataclass(frozen=True)
class Recovered:
    items: list[str]
    segments: list[str]


def recover_intents(ctx: VaultContext, *, older_than: dt.timedelta = dt.timedelta(minutes=15)) -> Recovered:
    cutoff = ctx.now() - older_than
    items, segments = [], []
    with ctx.sessions() as s:
        for it in s.scalars(select(Item).where(Item.state == "writing", Item.received_at <= cutoff)):
            it.state = "orphaned"
            items.append(it.id)
        for seg in s.scalars(select(Segment).where(Segment.state == "writing", Segment.created_at <= cutoff)):
            seg.state = "orphaned"
            segments.append(seg.id)
        s.commit()
    return Recovered(items, segments)
