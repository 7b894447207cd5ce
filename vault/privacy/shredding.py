"""Crypto-shredding: destroying a data key, and the subject's name on its row.

Once a key is destroyed, nothing needs the subject's identifier in clear on that row (it
only served as associated data to unwrap the key), so it is replaced by ``#`` + the keyed
pseudonym the journal uses: after an erasure the index no longer names the person, while
the vault (holding the KEK) can still answer a repeated request. ``#`` cannot start a
subject id, so a shredded name never collides with a real one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from vault.context import NO_SUBJECT, SHREDDED, VaultContext
from vault.index.models import SubjectKey


def shredded_name(ctx: VaultContext, tenant: str, subject: str) -> str:
    return SHREDDED + ctx.keyring.pseudonym(tenant, subject)


def subject_names(ctx: VaultContext, tenant: str, subject: str) -> list[str]:
    """Every name a subject's key rows may carry: in clear (live keys) or shredded."""
    return [subject, shredded_name(ctx, tenant, subject)]


def subject_ref_of(ctx: VaultContext, tenant: str, stored: str) -> str | None:
    """The journal pseudonym for a key row's subject, clear or shredded (None: no subject)."""
    if stored == NO_SUBJECT:
        return None
    return stored[len(SHREDDED) :] if stored.startswith(SHREDDED) else ctx.keyring.pseudonym(tenant, stored)


def destroy_key(s: Session, ctx: VaultContext, key: SubjectKey, at: dt.datetime) -> bool:
    """Destroy ``key`` in ``s`` (the caller commits, with its journal entry); False if it was."""
    if key.wrapped_key is None:
        return False
    key.wrapped_key = None
    key.destroyed_at = at
    if key.subject != NO_SUBJECT and not key.subject.startswith(SHREDDED):
        key.subject = shredded_name(ctx, key.tenant_id, key.subject)
    return True
