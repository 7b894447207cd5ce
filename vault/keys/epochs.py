"""Which KEK epoch wraps new keys, as the index records it, and the key-state counter.

The epoch keys live in the KEK store; the index only coordinates: one ``current`` epoch, read
in the transaction that wraps a new key (``FOR SHARE`` on PostgreSQL, so that a rotation's
switch waits for it), ``retired`` epochs while a rotation re-wraps away from them, and
``destroyed`` ones. A key row wrapped under an epoch that a rotation retired in the meantime is
re-wrapped by whoever still holds the key in memory (see ``DataKeys.check_live``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from vault.errors import KeyError_
from vault.index.db import index_lock
from vault.index.models import KekEpoch, KeyState, PseudonymKey, SubjectKey
from vault.keys.kek.store import KekStore

CURRENT, RETIRED, DESTROYED = "current", "retired", "destroyed"


def current_epoch(s: Session) -> int:
    """The epoch to wrap new keys under, in the caller's transaction."""
    found = s.scalars(select(KekEpoch.epoch).where(KekEpoch.state == CURRENT).with_for_update(read=True)).first()
    if found is None:
        raise KeyError_("the index has no current KEK epoch", detail="run `vault init` or `vault kek rotate`")
    return found


def usable(s: Session, epoch: int) -> bool:
    """Is ``epoch`` still the current one (a key wrapped under it needs no re-wrap)?"""
    state = s.scalars(select(KekEpoch.state).where(KekEpoch.epoch == epoch)).first()
    return state == CURRENT


def counter(s: Session) -> int:
    value = s.scalars(select(KeyState.counter).where(KeyState.id == 1)).first()
    return int(value or 0)


def bump(s: Session) -> None:
    """Tell every process to drop the keys it holds unwrapped (in the caller's transaction)."""
    s.execute(update(KeyState).where(KeyState.id == 1).values(counter=KeyState.counter + 1))


def next_epoch(s: Session, store: KekStore) -> int:
    """An epoch number never used, neither in the index nor in the store."""
    in_index = s.scalars(select(func.max(KekEpoch.epoch))).first() or 0
    in_rows = max(
        s.scalars(select(func.max(SubjectKey.epoch))).first() or 0,
        s.scalars(select(func.max(PseudonymKey.epoch))).first() or 0,
    )
    return max([in_index, in_rows, *store.epochs()]) + 1


def ensure_current(engine: Engine, sessions: sessionmaker[Session], store: KekStore, lock_dir: Path) -> int:
    """The current epoch, creating the first one in the store for a new index.

    An index upgraded from before epochs has epoch 0 (its KEK file) current until the first
    rotation; that works for reading but new keys need a real epoch, so it is rotated then
    (``vault init`` does it; see vault.keys.rotation).
    """
    with sessions() as s:
        found = s.scalars(select(KekEpoch.epoch).where(KekEpoch.state == CURRENT)).first()
    if found is not None:
        return found
    with index_lock(engine, lock_dir, "kek"), sessions() as s:
        found = s.scalars(select(KekEpoch.epoch).where(KekEpoch.state == CURRENT)).first()
        if found is not None:
            return found
        wrapped = s.scalars(select(func.count()).select_from(SubjectKey).where(SubjectKey.wrapped_key.is_not(None)))
        if wrapped.one():
            raise KeyError_(
                "data keys are wrapped in the index but no KEK epoch is current",
                detail="restore the index and the KEK store together, or run `vault kek restore`",
            )
        epoch = next_epoch(s, store)
        store.create(epoch)
        s.add(KekEpoch(epoch=epoch, state=CURRENT, created_at=dt.datetime.now(dt.UTC)))
        if s.get(KeyState, 1) is None:
            s.add(KeyState(id=1, counter=0))
        s.commit()
        return epoch
