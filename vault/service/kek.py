"""KEK epochs: rotate, restore after an index backup, show (the host operator only: whoever
holds the KEK store's PIN can do everything; see vault.access.permissions)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.index.models import SubjectKey
from vault.keys import rotation
from vault.service.result import Result


def rotate(ctx: VaultContext, who: Principal, *, reason: str = "operator request") -> Result:
    authorize(who, Op.KEK_ROTATE)
    return Result(rotation.rotate(ctx, reason=reason, who=who).as_json())


def restore(ctx: VaultContext, who: Principal) -> Result:
    authorize(who, Op.KEK_ROTATE)
    return Result(rotation.restore(ctx, who=who).as_json())


def status(ctx: VaultContext, who: Principal) -> Result:
    authorize(who, Op.KEK_ROTATE)
    return Result(rotation.status(ctx))


def after_erasure(
    ctx: VaultContext, who: Principal, tenant: str, subject: str, *, record: str, keys: int
) -> dict[str, Any]:
    """What makes an erasure reach backups: destroy the subject's pseudonym key when none of
    its data keys is left, then rotate the KEK epoch (if anything was destroyed).

    Returns what was done, for the erasure's answer. A failed rotation is reported, not
    raised: the erasure itself stands (the keys are gone from the index) and the next rotation,
    scheduled or manual, makes it reach backups."""
    with ctx.sessions() as s:
        live = s.scalars(
            select(SubjectKey.id)
            .where(SubjectKey.tenant_id == tenant, SubjectKey.subject == subject, SubjectKey.wrapped_key.is_not(None))
            .limit(1)
        ).first()
        forgotten = None
        if live is None:
            forgotten = ctx.pseudonyms.destroy(s, tenant, subject, ctx.now())
            s.commit()
    done: dict[str, Any] = {"pseudonym_destroyed": forgotten is not None, "kek_rotation": None}
    if keys or forgotten is not None:
        try:
            done["kek_rotation"] = rotation.rotate(ctx, reason=f"erasure {record}", who=who).as_json()
        except Exception as e:  # reported in the answer; the erasure stands
            done["kek_rotation"] = {"error": f"{type(e).__name__}: {e}", "retry": "vault kek rotate"}
    return done
