"""The vault's own journal: list entries (scoped), prove it intact."""

from __future__ import annotations

import datetime as dt

from vault.access.permissions import Op, authorize, scope_tenant
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.errors import InputError
from vault.journal.verify import JournalReport, list_entries, verify_journal
from vault.service.result import Result

MAX_LIMIT = 10_000


def entries(
    ctx: VaultContext,
    who: Principal,
    *,
    since: dt.datetime | None = None,
    limit: int | None = None,
    tenant: str | None = None,
    action: str | None = None,
) -> Result:
    authorize(who, Op.JOURNAL_LIST)
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit must be 1..{MAX_LIMIT}")
    if action is not None and (len(action) > 40 or not action.isprintable()):
        raise InputError("invalid action name", detail=repr(action)[:60])
    found = list_entries(ctx, since=since, limit=limit, tenant=scope_tenant(who, tenant), action=action)
    return Result({"entries": found})


def verify(ctx: VaultContext, who: Principal) -> JournalReport:
    authorize(who, Op.JOURNAL_VERIFY)
    return verify_journal(ctx)
