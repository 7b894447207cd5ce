"""Erasable journal pseudonyms: one key per (tenant, data subject), destroyed by erasure.

The journal is kept for decades in WORM batches and names subjects only by pseudonym. Keyed
by a key the vault always holds, a pseudonym would link the journal to an erased person for
ever; keyed by the subject's own key, wrapped under the KEK epoch like a data key, it does so
only until the erasure (and the rotation after it) destroys that key. The entries still prove
what happened; no longer to whom.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from vault.envelope.keyring import KeyRing, pseudonym
from vault.index.models import PseudonymKey
from vault.keys import epochs
from vault.keys.kek.store import EpochKeyMissing

#: first character of a destroyed key row's subject (``#`` + the pseudonym it had): it cannot
#: start a subject id, so it never collides with a live row
SHREDDED = "#"
#: how stale this process's view of the key-state counter may get (see vault.keys.datakeys)
RECHECK_SECONDS = 1.0


class Pseudonyms:
    def __init__(self, sessions: sessionmaker[Session], keyring: KeyRing, now: Callable[[], dt.datetime]) -> None:
        self._sessions = sessions
        self._keyring = keyring
        self._now = now
        self._cache: dict[tuple[str, str], bytes] = {}
        self._seen = -1
        self._checked = 0.0
        self._lock = threading.Lock()

    def of(self, tenant: str, subject: str, s: Session | None = None) -> str:
        """The subject's pseudonym, its key created on first use (in ``s`` when given: the
        caller's transaction, so the key commits with the entry that needs it)."""
        if s is None:
            with self._sessions() as own:
                ref = self._of(own, tenant, subject, create=True)
                own.commit()
                assert ref is not None
                return ref
        ref = self._of(s, tenant, subject, create=True)
        assert ref is not None
        return ref

    def existing(self, tenant: str, subject: str, s: Session | None = None) -> str | None:
        """The subject's pseudonym if its key exists (never creates one: a lookup for an
        unknown or erased subject must leave nothing behind)."""
        if s is None:
            with self._sessions() as own:
                return self._of(own, tenant, subject, create=False)
        return self._of(s, tenant, subject, create=False)

    def _of(self, s: Session, tenant: str, subject: str, *, create: bool) -> str | None:
        self._refresh(s)
        with self._lock:
            key = self._cache.get((tenant, subject))
        if key is None:
            key = self._load(s, tenant, subject, create=create)
            if key is None:
                return None
            with self._lock:
                self._cache[(tenant, subject)] = key
        return pseudonym(key, tenant, subject)

    def _refresh(self, s: Session) -> None:
        """Drop cached keys when a key was destroyed anywhere (re-read at most once a second:
        this runs for every journal entry that names a subject)."""
        now = time.monotonic()
        if now - self._checked < RECHECK_SECONDS:
            return
        seen = epochs.counter(s)
        with self._lock:
            if seen != self._seen:
                self._cache.clear()
                self._seen = seen
            self._checked = now

    def _row(self, s: Session, tenant: str, subject: str) -> PseudonymKey | None:
        return s.scalars(
            select(PseudonymKey).where(PseudonymKey.tenant_id == tenant, PseudonymKey.subject == subject)
        ).first()

    def _load(self, s: Session, tenant: str, subject: str, *, create: bool) -> bytes | None:
        row = self._row(s, tenant, subject)
        if row is None:
            if not create:
                return None
            epoch = epochs.current_epoch(s)
            key, wrapped = self._keyring.new_pseudonym_key(tenant, subject, epoch)
            values = {
                "tenant_id": tenant,
                "subject": subject,
                "wrapped_key": wrapped,
                "epoch": epoch,
                "created_at": self._now(),
            }
            dialect = s.get_bind().dialect.name
            if dialect == "postgresql":
                s.execute(pg_insert(PseudonymKey).values(**values).on_conflict_do_nothing())
            elif dialect == "sqlite":
                s.execute(sqlite_insert(PseudonymKey).values(**values).on_conflict_do_nothing())
            else:  # pragma: no cover - the vault runs on SQLite and PostgreSQL
                s.execute(insert(PseudonymKey).values(**values))
            row = self._row(s, tenant, subject)
            assert row is not None
            if row.wrapped_key == wrapped:
                return key
        if row.wrapped_key is None:  # pragma: no cover - destroyed rows are renamed
            return None
        try:
            return self._keyring.unwrap_pseudonym_key(row.wrapped_key, tenant, subject, row.epoch)
        except EpochKeyMissing:
            # wrapped under an epoch a concurrent rotation destroyed before re-wrapping it (a
            # race SQLite cannot lock out): the old pseudonym is unlinkable, start a new one
            epoch = epochs.current_epoch(s)
            key, row.wrapped_key = self._keyring.new_pseudonym_key(tenant, subject, epoch)
            row.epoch = epoch
            return key

    def destroy(self, s: Session, tenant: str, subject: str, at: dt.datetime) -> str | None:
        """Destroy the subject's pseudonym key in ``s`` (the caller commits); its row keeps
        ``#`` + the pseudonym it gave, so journal entries can still be counted, not named."""
        ref = self._of(s, tenant, subject, create=False)
        row = self._row(s, tenant, subject)
        if row is None or ref is None:
            return None
        row.wrapped_key = None
        row.destroyed_at = at
        row.subject = SHREDDED + ref
        epochs.bump(s)
        with self._lock:
            self._cache.pop((tenant, subject), None)
        return ref
