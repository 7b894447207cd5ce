"""Operator chores: seal now, mark crashed deposits orphaned."""

from __future__ import annotations

import datetime as dt

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.service.result import Result


def seal(ctx: VaultContext, who: Principal) -> Result:
    from vault.batch.sealer import seal_pending

    authorize(who, Op.SEAL)
    batches = seal_pending(ctx)
    return Result({"batches": [dict(b.__dict__) for b in batches], "items": sum(b.items for b in batches)})


def recover(ctx: VaultContext, who: Principal, *, older_than: dt.timedelta) -> Result:
    from vault.runtime.recovery import recover_intents

    authorize(who, Op.RECOVER)
    r = recover_intents(ctx, older_than=older_than)
    return Result({"orphaned_items": r.items, "orphaned_segments": r.segments})
