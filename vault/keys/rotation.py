"""KEK rotation: re-wrap every live key under a new epoch, then destroy the old epochs.

This is what makes an erasure reach backups (ADR 0011). Erasure destroys a key's row in the
index; copies of that wrapped key survive in index backups, SQLite WAL files, PostgreSQL dead
tuples and WAL archives, all wrapped under the epoch that was current then. The rotation that
follows re-wraps every *live* key under a new epoch and destroys the old one in the KEK store:
from then on no copy of the erased key can be unwrapped anywhere, and the erasure is
irreversible. The vault rotates after every erasure that destroyed keys and on a schedule.

Restoring an index backup older than a rotation needs the live keys re-wrapped since: each
rotation writes a *key snapshot* (every live wrapped key, by row id, under the new epoch; no
subject names) to the object store before it destroys the old epoch. ``restore`` takes the
restored rows whose epoch no longer exists from the newest usable snapshot; a row the snapshot
lacks was destroyed before it (erased) and stays destroyed.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vault.access.principal import SYSTEM, Principal
from vault.context import VaultContext
from vault.errors import KeyError_, StorageError
from vault.index.db import index_lock
from vault.index.models import KekEpoch, PseudonymKey, SubjectKey
from vault.journal.log import record
from vault.keys import epochs
from vault.keys.datakeys import binding_of
from vault.keys.kek.store import EpochKeyMissing
from vault.keys.pseudonyms import SHREDDED

SNAPSHOT_PREFIX = "keys/snapshots/"
SNAPSHOT_FORMAT = "vault-key-snapshot/1"
CHUNK = 500
#: how long a key snapshot is locked in the object store (it is useless once its epoch is gone)
SNAPSHOT_LOCK_DAYS = 90


@dataclass
class RotationResult:
    epoch: int
    rewrapped: int = 0
    destroyed_epochs: list[int] = field(default_factory=list)
    snapshot: str = ""
    reason: str = ""
    record: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def snapshot_key(epoch: int) -> str:
    return f"{SNAPSHOT_PREFIX}epoch-{epoch:09d}.json"


def rotate(ctx: VaultContext, *, reason: str, who: Principal = SYSTEM) -> RotationResult:
    """Create a new epoch, re-wrap every live key under it, snapshot them, destroy the others.

    Safe to interrupt at any point: a crash leaves keys under the new or the old epoch, both
    still in the store, and the next rotation finishes the work. Old epochs are destroyed only
    once no live row uses them and the snapshot is stored.
    """
    with index_lock(ctx.engine, ctx.settings.run_dir, "kek"):
        now = ctx.now()
        with ctx.sessions() as s:
            new = epochs.next_epoch(s, ctx.kek)
        ctx.kek.create(new)
        with ctx.sessions() as s:
            # the UPDATE waits for deposits holding the current epoch FOR SHARE (PostgreSQL)
            s.execute(update(KekEpoch).where(KekEpoch.state == epochs.CURRENT).values(state=epochs.RETIRED))
            s.add(KekEpoch(epoch=new, state=epochs.CURRENT, created_at=now))
            epochs.bump(s)
            s.commit()
        result = RotationResult(epoch=new, reason=reason)
        for _ in range(5):  # keys wrapped by deposits that read the old epoch just before the switch
            moved = _rewrap_all(ctx, new)
            result.rewrapped += moved
            if moved == 0:
                break
        result.snapshot = _write_snapshot(ctx, new)
        with ctx.sessions() as s:
            left = _count_not_on(s, new, set(ctx.kek.epochs()))
            if left:
                raise KeyError_(
                    "keys are still wrapped under an old epoch after re-wrapping",
                    detail=f"{left} key(s); the old epochs are kept; run `vault kek rotate` again",
                )
            old = s.scalars(select(KekEpoch).where(KekEpoch.epoch != new, KekEpoch.state != epochs.DESTROYED)).all()
            for row in old:
                row.state = epochs.DESTROYED
                row.destroyed_at = now
            result.destroyed_epochs = sorted(r.epoch for r in old)
            entry = record(
                s,
                ctx,
                who,
                "kek_rotate",
                at=now,
                epoch=new,
                rewrapped=result.rewrapped,
                destroyed_epochs=result.destroyed_epochs,
                snapshot=result.snapshot,
                reason=reason,
            )
            epochs.bump(s)
            s.commit()
            result.record = entry.id
        # destroy in the store after the index says so: a crash in between leaves a key that the
        # next rotation destroys (every epoch the index marks destroyed, or does not know)
        _destroy_stale(ctx, keep=new)
        return result


def _count_not_on(s: Session, epoch: int, have: set[int]) -> int:
    """Live rows still wrapped under another epoch the store holds (rows under an epoch it
    lost cannot be re-wrapped by anyone: ``vault kek restore`` deals with those)."""
    others = sorted(have - {epoch})
    if not others:
        return 0
    n = 0
    for model in (SubjectKey, PseudonymKey):
        n += s.scalars(
            select(func.count()).select_from(model).where(model.wrapped_key.is_not(None), model.epoch.in_(others))
        ).one()
    return n


def _rewrap_all(ctx: VaultContext, new: int) -> int:
    have = sorted(set(ctx.kek.epochs()) - {new})
    if not have:
        return 0
    kr = ctx.keyring

    def data_key(r: SubjectKey) -> None:
        assert r.wrapped_key is not None
        b = binding_of(r)
        r.wrapped_key = kr.wrap_data_key(kr.unwrap_data_key(r.wrapped_key, b, r.epoch), b, new)
        r.kek_id = f"epoch-{new}"

    def pseudonym_key(p: PseudonymKey) -> None:
        assert p.wrapped_key is not None
        key = kr.unwrap_pseudonym_key(p.wrapped_key, p.tenant_id, p.subject, p.epoch)
        p.wrapped_key = kr.rewrap_pseudonym_key(key, p.tenant_id, p.subject, new)

    return _rewrap_table(ctx, SubjectKey, have, new, data_key) + _rewrap_table(
        ctx, PseudonymKey, have, new, pseudonym_key
    )


def _rewrap_table(ctx: VaultContext, model: type[Any], have: list[int], new: int, rewrap: Callable[[Any], None]) -> int:
    """Re-wrap every live row of ``model`` under an epoch in ``have``, CHUNK rows per transaction."""
    moved = last = 0
    while True:
        with ctx.sessions() as s:
            rows = s.scalars(
                select(model)
                .where(model.wrapped_key.is_not(None), model.epoch.in_(have), model.id > last)
                .order_by(model.id)
                .limit(CHUNK)
                .with_for_update()
            ).all()
            if not rows:
                return moved
            for r in rows:
                rewrap(r)
                r.epoch = new
                last = r.id
            moved += len(rows)
            s.commit()


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _write_snapshot(ctx: VaultContext, epoch: int) -> str:
    """Every live wrapped key under ``epoch``, by row id, to the object store; read back."""
    from vault.ingest.common import store_lock

    with ctx.sessions() as s:
        data = [
            [r.id, r.generation, _b64(r.wrapped_key)]
            for r in s.scalars(
                select(SubjectKey).where(SubjectKey.wrapped_key.is_not(None), SubjectKey.epoch == epoch)
            ).all()
            if r.wrapped_key is not None
        ]
        pseud = [
            [p.id, _b64(p.wrapped_key)]
            for p in s.scalars(
                select(PseudonymKey).where(PseudonymKey.wrapped_key.is_not(None), PseudonymKey.epoch == epoch)
            ).all()
            if p.wrapped_key is not None
        ]
    body = json.dumps(
        {
            "format": SNAPSHOT_FORMAT,
            "epoch": epoch,
            "kek_store": ctx.kek.description,
            "created": ctx.now().isoformat(),
            "subject_keys": data,
            "pseudonym_keys": pseud,
        },
        separators=(",", ":"),
    ).encode()
    key = snapshot_key(epoch)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=SNAPSHOT_LOCK_DAYS)
    stored = ctx.store.put(key, body, store_lock(ctx, until), content_type="application/json")
    if ctx.store.get(key, stored.version_id) != body:
        raise StorageError("the key snapshot does not read back as written", detail=key)
    return key


def _destroy_stale(ctx: VaultContext, *, keep: int) -> list[int]:
    with ctx.sessions() as s:
        alive = set(s.scalars(select(KekEpoch.epoch).where(KekEpoch.state != epochs.DESTROYED)).all())
    gone = [e for e in ctx.kek.epochs() if e not in alive and e != keep]
    for e in gone:
        ctx.kek.destroy(e)
    return gone


# -- after restoring an index backup ---------------------------------------------------------


@dataclass
class RestoreResult:
    snapshot: str
    restored: int = 0
    lost: int = 0
    unchanged: int = 0
    record: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _latest_snapshot(ctx: VaultContext) -> tuple[int, dict[str, Any], str]:
    have = set(ctx.kek.epochs())
    for epoch in sorted(have, reverse=True):
        key = snapshot_key(epoch)
        versions = [v for v, marker in ctx.store.versions(key) if not marker]
        if not versions:
            continue
        try:
            doc = json.loads(ctx.store.get(key, versions[0]))
        except (ValueError, StorageError) as e:
            raise KeyError_("a key snapshot is unreadable", detail=f"{key}: {e}") from e
        if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT or doc.get("epoch") != epoch:
            raise KeyError_("a key snapshot is not what rotation writes", detail=key)
        return epoch, doc, key
    raise KeyError_("no key snapshot for any epoch the KEK store still holds", detail=SNAPSHOT_PREFIX)


def restore(ctx: VaultContext, *, who: Principal = SYSTEM) -> RestoreResult:
    """After an index backup was restored: re-attach live keys from the newest key snapshot.

    Rows wrapped under an epoch the store still holds are left alone. The others take the
    snapshot's wrapped key for their row id, checked by unwrapping it (the associated data binds
    it to the row's tenant, subject, scope and generation); a row the snapshot lacks, or whose
    snapshot entry does not unwrap, was destroyed after the backup: it stays destroyed.
    """
    with index_lock(ctx.engine, ctx.settings.run_dir, "kek"):
        epoch, doc, key = _latest_snapshot(ctx)
        dek_snap = {int(i): (int(g), base64.b64decode(w)) for i, g, w in doc["subject_keys"]}
        ps_snap = {int(i): base64.b64decode(w) for i, w in doc["pseudonym_keys"]}
        have = set(ctx.kek.epochs())
        now = ctx.now()
        result = RestoreResult(snapshot=key)
        with ctx.sessions() as s:
            for r in s.scalars(select(SubjectKey).where(SubjectKey.wrapped_key.is_not(None))).all():
                if r.epoch in have:
                    result.unchanged += 1
                    continue
                snap = dek_snap.get(r.id)
                ok = False
                if snap is not None and snap[0] == r.generation:
                    try:
                        ctx.keyring.unwrap_data_key(snap[1], binding_of(r), epoch)
                        ok = True
                    except (KeyError_, EpochKeyMissing):
                        ok = False
                if ok and snap is not None:
                    r.wrapped_key, r.epoch, r.kek_id = snap[1], epoch, f"epoch-{epoch}"
                    result.restored += 1
                else:
                    r.wrapped_key, r.destroyed_at = None, now
                    if not r.subject.startswith(SHREDDED) and r.subject != "-":
                        r.subject = f"{SHREDDED}lost-{r.id}"
                    result.lost += 1
            for p in s.scalars(select(PseudonymKey).where(PseudonymKey.wrapped_key.is_not(None))).all():
                if p.epoch in have:
                    continue
                blob = ps_snap.get(p.id)
                try:
                    if blob is None:
                        raise KeyError_("not in the snapshot")
                    ctx.keyring.unwrap_pseudonym_key(blob, p.tenant_id, p.subject, epoch)
                    p.wrapped_key, p.epoch = blob, epoch
                except (KeyError_, EpochKeyMissing):
                    p.wrapped_key, p.destroyed_at = None, now
                    p.subject = f"{SHREDDED}lost-{p.id}"
            # the epochs table of the backup is as old as the backup: the store is the truth
            for row in s.scalars(select(KekEpoch)).all():
                if row.epoch not in have and row.state != epochs.DESTROYED:
                    row.state, row.destroyed_at = epochs.DESTROYED, now
                elif row.epoch in have:
                    row.state = epochs.CURRENT if row.epoch == max(have) else epochs.RETIRED
            known = set(s.scalars(select(KekEpoch.epoch)).all())
            for e in have - known:
                s.add(KekEpoch(epoch=e, state=epochs.CURRENT if e == max(have) else epochs.RETIRED, created_at=now))
            entry = record(
                s,
                ctx,
                who,
                "kek_restore",
                at=now,
                snapshot=key,
                restored=result.restored,
                lost=result.lost,
                unchanged=result.unchanged,
            )
            epochs.bump(s)
            s.commit()
            result.record = entry.id
        return result


def status(ctx: VaultContext) -> dict[str, Any]:
    """What ``vault status`` and ``vault kek status`` show."""
    with ctx.sessions() as s:
        rows = s.scalars(select(KekEpoch).order_by(KekEpoch.epoch)).all()
        current = next((r for r in rows if r.state == epochs.CURRENT), None)
        live = s.scalars(select(func.count()).select_from(SubjectKey).where(SubjectKey.wrapped_key.is_not(None))).one()
    return {
        "store": ctx.kek.description,
        "hardware_backed": ctx.kek.hardware_backed,
        "current_epoch": current.epoch if current else None,
        "current_since": current.created_at.isoformat() if current else None,
        "epochs_in_store": ctx.kek.epochs(),
        "retired": [r.epoch for r in rows if r.state == epochs.RETIRED],
        "live_data_keys": live,
        "rotate_every_days": ctx.settings.kek_rotate_days,
    }
