"""Crypto-shredding: destroying a data key, and the subject's name on its row.

Once a key is destroyed, nothing needs the subject's identifier in clear on that row (it
only served as associated data to unwrap the key), so it is replaced by ``#`` + the subject's
journal pseudonym: after an erasure the index no longer names the person. While the subject's
pseudonym key lives (a purpose whose erasure was refused), the vault can still find those rows;
once erasure destroys the pseudonym key too (vault.keys.pseudonyms), nobody can. ``#`` cannot
start a subject id, so a shredded name never collides with a real one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from vault.context import NO_SUBJECT, SHREDDED, VaultContext
from vault.index.models import SubjectKey
from vault.keys import epochs


def subject_names(ctx: VaultContext, tenant: str, subject: str) -> list[str]:
    """Every name a subject's key rows may carry: in clear (live keys) or shredded (while the
    subject's pseudonym key lives)."""
    ref = ctx.pseudonyms.existing(tenant, subject)
    return [subject] if ref is None else [subject, SHREDDED + ref]


def subject_ref_of(ctx: VaultContext, tenant: str, stored: str, s: Session | None = None) -> str | None:
    """The journal pseudonym for a key row's subject, clear or shredded (None: no subject)."""
    if stored == NO_SUBJECT:
        return None
    return stored[len(SHREDDED) :] if stored.startswith(SHREDDED) else ctx.pseudonyms.of(tenant, stored, s)


def destroy_key(s: Session, ctx: VaultContext, key: SubjectKey, at: dt.datetime) -> bool:
    """Destroy ``key`` in ``s`` (the caller commits, with its journal entry); False if it was.

    The wrapped key in this row is gone; copies of it in backups, WAL files and dead tuples are
    wrapped under a KEK epoch that the next rotation destroys (vault.keys.rotation)."""
    if key.wrapped_key is None:
        return False
    key.wrapped_key = None
    key.destroyed_at = at
    if key.subject != NO_SUBJECT and not key.subject.startswith(SHREDDED):
        key.subject = SHREDDED + ctx.pseudonyms.of(key.tenant_id, key.subject, s)
    epochs.bump(s)
    return True
