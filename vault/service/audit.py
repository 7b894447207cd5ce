"""The completeness audit, and the rebuild of a lost index from the store."""

from __future__ import annotations

from typing import Any

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal
from vault.audit.completeness import audit as run_audit
from vault.audit.report import AuditReport
from vault.context import VaultContext
from vault.journal.log import record


def audit(ctx: VaultContext, who: Principal, *, tenant: str | None = None) -> AuditReport:
    """Audit the index against the sealed chain; a tenant-scoped principal audits its tenant."""
    authorize(who, Op.AUDIT, tenant=tenant)
    scope = who.tenant or tenant
    report = run_audit(ctx, tenant=scope)
    with ctx.sessions() as s:
        record(
            s,
            ctx,
            who,
            "audit",
            tenant=scope,
            ok=report.ok,
            batches=report.batches,
            problems=len(report.problems),
            by_kind=report.as_json()["problems_by_kind"],
        )
        s.commit()
    return report


def rebuild_index(ctx: VaultContext, who: Principal, *, keys_from: str | None = None) -> Any:
    """Recreate a lost index from the store (the host operator only), then audit it."""
    from vault.index.rebuild import rebuild_from_store

    authorize(who, Op.INDEX_REBUILD)
    report = rebuild_from_store(ctx, keys_from=keys_from)
    with ctx.sessions() as s:
        record(s, ctx, who, "index_rebuild", **{k: v for k, v in report.as_json().items() if k != "problems"})
        s.commit()
    return report
