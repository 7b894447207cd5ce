"""GDPR rights of a data subject within a tenant (the DPO's work)."""

from __future__ import annotations

from pathlib import Path

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.privacy import erasure, rights
from vault.privacy.erasure import ErasureResult
from vault.service.result import Result


def access(ctx: VaultContext, who: Principal, tenant: str, subject: str, out: Path) -> Result:
    authorize(who, Op.SUBJECT_ACCESS, tenant=tenant)
    return Result(rights.subject_access(ctx, tenant, subject, out, who=who))


def rectify(
    ctx: VaultContext, who: Principal, tenant: str, subject: str, *, item: str, field: str, value: str
) -> Result:
    authorize(who, Op.SUBJECT_RECTIFY, tenant=tenant)
    from vault.service.items import find_item

    find_item(ctx, who, item)  # another tenant's item is "no such item"
    return Result(rights.rectify(ctx, tenant, subject, item, field, value, who=who))


def erase(ctx: VaultContext, who: Principal, tenant: str, subject: str) -> tuple[ErasureResult, str]:
    """(the decision per item, what sealing its record gave)."""
    from vault.retention.apply import seal_now

    authorize(who, Op.SUBJECT_ERASE, tenant=tenant)
    result = erasure.erase_subject(ctx, tenant, subject, who=who)
    from vault.service.kek import after_erasure

    done = after_erasure(ctx, who, tenant, subject, record=result.record, keys=result.keys_destroyed)
    result.pseudonym_destroyed = done["pseudonym_destroyed"]
    result.kek_rotation = done["kek_rotation"]
    return result, seal_now(ctx)


def restrict(ctx: VaultContext, who: Principal, tenant: str, subject: str, *, lift: bool = False) -> Result:
    authorize(who, Op.SUBJECT_RESTRICT, tenant=tenant)
    return Result(rights.restrict(ctx, tenant, subject, lift=lift, who=who))


def object_to(ctx: VaultContext, who: Principal, tenant: str, subject: str, purpose: str) -> Result:
    authorize(who, Op.SUBJECT_OBJECT, tenant=tenant)
    return Result(rights.object_to(ctx, tenant, subject, purpose, who=who))
