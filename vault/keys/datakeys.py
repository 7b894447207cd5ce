"""The data-key lifecycle: one key per (tenant, subject, purpose scope, generation).

Keys are created on first use, wrapped under the KEK in the index, cached unwrapped in this
process, re-checked in every committing transaction (an erasure in another process wins),
and destroyed by erasure or retention (``vault.privacy.shredding``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vault.envelope.keyring import KeyRing
from vault.errors import KeyError_
from vault.index.models import SubjectKey

#: prefix of the subject name on a destroyed key row: ``#`` + the journal pseudonym (it cannot
#: start a subject id); see vault.privacy.shredding
SHREDDED = "#"


class DataKeys:
    def __init__(self, sessions: sessionmaker[Session], keyring: KeyRing, now: Callable[[], dt.datetime]) -> None:
        self._sessions = sessions
        self._keyring = keyring
        self._now = now
        self._cache: dict[tuple[str, str, str], tuple[int, bytes]] = {}
        self._lock = threading.Lock()

    def data_key(self, tenant_id: str, subject: str, scope: str) -> tuple[int, bytes]:
        """(key row id, data key) of a subject for one purpose scope, created on first use.

        Cached unwrapped; :meth:`check_live` re-checks in the committing transaction, so a
        key destroyed by another process is never used for new data.
        """
        cache_key = (tenant_id, subject, scope)
        with self._lock:
            hit = self._cache.get(cache_key)
        if hit:
            return hit
        with self._sessions() as s:
            # destroyed rows carry the shredded name ("#" + pseudonym): they still count for generations
            names = [subject, SHREDDED + self._keyring.pseudonym(tenant_id, subject)]
            rows = s.scalars(
                select(SubjectKey)
                .where(SubjectKey.tenant_id == tenant_id, SubjectKey.subject.in_(names), SubjectKey.scope == scope)
                .order_by(SubjectKey.generation.desc())
            ).all()
            live = next((r for r in rows if r.wrapped_key is not None), None)
            if live is None:  # first use, or every earlier generation was destroyed
                dek, wrapped = self._keyring.new_wrapped_key(tenant_id, subject)
                row = SubjectKey(
                    tenant_id=tenant_id,
                    subject=subject,
                    scope=scope,
                    generation=(rows[0].generation + 1) if rows else 1,
                    wrapped_key=wrapped,
                    kek_id=self._keyring.kek_id,
                    created_at=self._now(),
                )
                s.add(row)
                try:
                    s.commit()
                except IntegrityError:  # created concurrently
                    s.rollback()
                    return self.data_key(tenant_id, subject, scope)
            else:
                row = live
                assert row.wrapped_key is not None
                dek = self._keyring.unwrap(row.wrapped_key, tenant_id, subject)
            result = (row.id, dek)
        with self._lock:
            self._cache[cache_key] = result
        return result

    def forget(self, key_ids: set[int]) -> None:
        """Drop destroyed keys from this process's cache."""
        with self._lock:
            for k, (kid, _) in list(self._cache.items()):
                if kid in key_ids:
                    del self._cache[k]

    def check_live(self, s: Session, key_ids: set[int]) -> None:
        """Inside a committing transaction: refuse to acknowledge data under a destroyed key
        (an erasure in another process won the race); the row lock orders the two on PostgreSQL."""
        rows = s.scalars(select(SubjectKey).where(SubjectKey.id.in_(key_ids)).with_for_update()).all()
        dead = {r.id for r in rows if r.wrapped_key is None}
        if dead:
            self.forget(dead)
            raise KeyError_(
                "the subject's data key was destroyed while the deposit was written",
                detail="an erasure or retention run won the race; retry the deposit",
            )

    def by_id(self, key_id: int) -> tuple[SubjectKey, bytes | None]:
        """The key row and its unwrapped key, or ``None`` when it was destroyed."""
        with self._sessions() as s:
            row = s.get(SubjectKey, key_id)
            if row is None:
                raise KeyError_("unknown data key", detail=str(key_id))
            if row.wrapped_key is None:
                return row, None
            return row, self._keyring.unwrap(row.wrapped_key, row.tenant_id, row.subject)
