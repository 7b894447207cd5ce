"""The data-key lifecycle: one key per (tenant, subject, purpose scope, generation).

Keys are created on first use, wrapped under the current KEK epoch in the index, cached
unwrapped in this process, re-checked in every committing transaction (an erasure in another
process wins), and destroyed by erasure or retention (``vault.privacy.shredding``). The cache
is dropped whenever the index's key-state counter moves (any destruction or rotation, in any
process), checked at most once a second; reads (``by_id``) always unwrap from the index.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vault.envelope.keyring import DataKeyBinding, KeyRing
from vault.errors import KeyError_
from vault.index.models import SubjectKey
from vault.keys import epochs
from vault.keys.pseudonyms import SHREDDED, Pseudonyms

__all__ = ["SHREDDED", "DataKeys", "binding_of"]

#: how stale this process's view of the key-state counter may get before a cache hit re-reads it
RECHECK_SECONDS = 1.0


def binding_of(row: SubjectKey) -> DataKeyBinding:
    return DataKeyBinding(row.tenant_id, row.subject, row.scope, row.generation)


class DataKeys:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        keyring: KeyRing,
        pseudonyms: Pseudonyms,
        now: Callable[[], dt.datetime],
    ) -> None:
        self._sessions = sessions
        self._keyring = keyring
        self._pseudonyms = pseudonyms
        self._now = now
        self._cache: dict[tuple[str, str, str], tuple[int, bytes]] = {}
        self._by_id: dict[int, bytes] = {}
        self._seen = -1
        self._checked = 0.0
        self._lock = threading.Lock()

    def _refresh(self, s: Session | None = None, *, force: bool = False) -> None:
        """Drop every cached key if a key was destroyed or re-wrapped anywhere since."""
        now = time.monotonic()
        if not force and now - self._checked < RECHECK_SECONDS:
            return
        if s is None:
            with self._sessions() as own:
                seen = epochs.counter(own)
        else:
            seen = epochs.counter(s)
        with self._lock:
            if seen != self._seen:
                self._cache.clear()
                self._by_id.clear()
                self._seen = seen
            self._checked = now

    def data_key(self, tenant_id: str, subject: str, scope: str) -> tuple[int, bytes]:
        """(key row id, data key) of a subject for one purpose scope, created on first use.

        Cached unwrapped; :meth:`check_live` re-checks in the committing transaction, so a
        key destroyed by another process is never used for new data.
        """
        self._refresh()
        cache_key = (tenant_id, subject, scope)
        with self._lock:
            hit = self._cache.get(cache_key)
        if hit:
            return hit
        with self._sessions() as s:
            names = [subject]
            ref = self._pseudonyms.existing(tenant_id, subject, s)
            if ref is not None:  # destroyed rows carry "#" + pseudonym: they still count for generations
                names.append(SHREDDED + ref)
            rows = s.scalars(
                select(SubjectKey)
                .where(SubjectKey.tenant_id == tenant_id, SubjectKey.subject.in_(names), SubjectKey.scope == scope)
                .order_by(SubjectKey.generation.desc())
            ).all()
            live = next((r for r in rows if r.wrapped_key is not None), None)
            if live is None:  # first use, or every earlier generation was destroyed
                epoch = epochs.current_epoch(s)
                generation = (rows[0].generation + 1) if rows else 1
                dek, wrapped = self._keyring.new_data_key(DataKeyBinding(tenant_id, subject, scope, generation), epoch)
                row = SubjectKey(
                    tenant_id=tenant_id,
                    subject=subject,
                    scope=scope,
                    generation=generation,
                    wrapped_key=wrapped,
                    kek_id=f"epoch-{epoch}",
                    epoch=epoch,
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
                dek = self._keyring.unwrap_data_key(row.wrapped_key, binding_of(row), row.epoch)
            result = (row.id, dek)
        with self._lock:
            self._cache[cache_key] = result
            self._by_id[row.id] = dek
        return result

    def forget(self, key_ids: set[int]) -> None:
        """Drop destroyed keys from this process's cache."""
        with self._lock:
            for k, (kid, _) in list(self._cache.items()):
                if kid in key_ids:
                    del self._cache[k]
            for kid in key_ids:
                self._by_id.pop(kid, None)

    def check_live(self, s: Session, key_ids: set[int]) -> None:
        """Inside a committing transaction: refuse to acknowledge data under a destroyed key
        (an erasure in another process won the race); the row lock orders the two on PostgreSQL.

        A key wrapped under an epoch that a rotation retired meanwhile is re-wrapped here under
        the current one, from the copy this process holds: no acknowledged data ever depends
        on an epoch about to be destroyed.
        """
        rows = s.scalars(select(SubjectKey).where(SubjectKey.id.in_(key_ids)).with_for_update()).all()
        dead = {r.id for r in rows if r.wrapped_key is None}
        if dead:
            self.forget(dead)
            raise KeyError_(
                "the subject's data key was destroyed while the deposit was written",
                detail="an erasure or retention run won the race; retry the deposit",
            )
        current = epochs.current_epoch(s)
        for r in rows:
            if r.epoch == current:
                continue
            with self._lock:
                dek = self._by_id.get(r.id)
            if dek is None:  # not ours: the rotation re-wraps it before destroying its epoch
                continue
            r.wrapped_key = self._keyring.wrap_data_key(dek, binding_of(r), current)
            r.epoch = current
            r.kek_id = f"epoch-{current}"

    def by_id(self, key_id: int) -> tuple[SubjectKey, bytes | None]:
        """The key row and its unwrapped key, or ``None`` when it was destroyed."""
        with self._sessions() as s:
            row = s.get(SubjectKey, key_id)
            if row is None:
                raise KeyError_("unknown data key", detail=str(key_id))
            if row.wrapped_key is None:
                return row, None
            return row, self._keyring.unwrap_data_key(row.wrapped_key, binding_of(row), row.epoch)
