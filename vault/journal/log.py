"""Appending to the journal, inside the caller's own transaction.

An entry is committed with the operation it records or not at all: a deposit, a hold or a
destruction cannot happen without its trace. Sealing picks entries up with pending items.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from vault.access.principal import Principal
from vault.context import VaultContext
from vault.index.models import JournalEntry
from vault.journal.entry import EntryBody, leaf_of, new_entry_id


def record(
    s: Session,
    ctx: VaultContext,
    who: Principal,
    action: str,
    *,
    tenant: str | None = None,
    subject: str | None = None,
    subject_ref: str | None = None,
    at: dt.datetime | None = None,
    **details: Any,
) -> JournalEntry:
    """Add one entry to ``s`` (the caller commits). The subject is journalled as its keyed
    pseudonym (give ``subject``, or ``subject_ref`` when only the pseudonym is known)."""
    when = at or ctx.now()
    body = EntryBody(
        id=new_entry_id(when),
        at=when,
        actor=who.actor,
        role=who.role.value,
        action=action,
        tenant=tenant,
        subject_ref=ctx.pseudonyms.of(tenant or "", subject, s) if subject else subject_ref,
        details=details,
    )
    encoded = body.encode()
    row = JournalEntry(
        id=body.id,
        at=when,
        actor=who.actor,
        action=action,
        tenant_id=tenant,
        subject_ref=body.subject_ref,
        body=encoded,
        leaf=leaf_of(encoded),
    )
    s.add(row)
    return row
