"""The scheduled KEK rotation of ``vault up``: checks every hour whether the current epoch is
older than ``kek_rotate_days`` (or is still the pre-epoch KEK, epoch 0) and rotates if so.
Erasures rotate by themselves (vault.service.subjects); this bounds how long any key copy in a
backup stays openable when no erasure happens."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from vault.context import VaultContext
from vault.index.models import KekEpoch
from vault.keys import epochs
from vault.runtime.periodic import PeriodicJob

log = logging.getLogger("vault.kek")


def rotation_due(ctx: VaultContext, now: dt.datetime) -> str | None:
    """Why the KEK should rotate now, or None."""
    with ctx.sessions() as s:
        cur = s.scalars(select(KekEpoch).where(KekEpoch.state == epochs.CURRENT)).first()
        retired = s.scalars(select(KekEpoch.epoch).where(KekEpoch.state == epochs.RETIRED)).first()
    if cur is None:
        return None
    if cur.epoch == 0:
        return "the pre-epoch KEK is still current"
    if retired is not None:
        return f"an interrupted rotation left epoch {retired} retired"
    days = ctx.settings.kek_rotate_days
    if days > 0 and now - cur.created_at >= dt.timedelta(days=days):
        return f"epoch {cur.epoch} is older than {days:g} days"
    return None


class KekRunner(PeriodicJob):
    name = "kek-rotation"

    def __init__(self, ctx: VaultContext, *, interval: float = 3600.0, first_delay: float = 60.0) -> None:
        super().__init__(interval if ctx.settings.kek_rotate_days > 0 else 0, first_delay)
        self.ctx = ctx

    def run_once(self) -> object:
        from vault.keys.rotation import rotate

        why = rotation_due(self.ctx, self.ctx.now())
        if why is None:
            return None
        result = rotate(self.ctx, reason=f"scheduled: {why}")
        log.info(
            "KEK rotated to epoch %d (%d keys re-wrapped, epochs %s destroyed)",
            result.epoch,
            result.rewrapped,
            result.destroyed_epochs,
        )
        return result
