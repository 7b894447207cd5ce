"""The retention run (``vault retention apply``): do what the plan says is due now.

Per object: delete every version of the object and of its manifest, then, in one
transaction, mark its items destroyed and write the sealed destruction record (a journal
entry: what, when, under which rule, the digests kept). A store that refuses (a lock or a
legal hold still active) leaves the items exactly as they were, reported as failed, for the
next run. Keys no longer needed by any live item are destroyed last.

Objects of deposits that never finished (``orphaned`` items and segments: never
acknowledged, never evidence) are deleted too, every version of object and manifest, once
the store's lock has ended in real time and no hold covers them; an object that an
acknowledged or in-flight row also points to is never touched. Each deletion gets an
``orphan_destroy`` journal entry; a locked one is reported pending, for the next run.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from vault.access.principal import SYSTEM, Principal
from vault.batch.sealer import seal_pending
from vault.batch.stored import StoredLeaves
from vault.context import VaultContext
from vault.errors import StorageError, TSAUnavailable
from vault.evidence.manifest import iso
from vault.evidence.sealed import content_sha256, evidence_of
from vault.index.models import Item, Segment, SubjectKey
from vault.ingest.common import extension_lock, manifest_key
from vault.journal.log import record
from vault.privacy.shredding import destroy_key, subject_ref_of
from vault.retention.decide import Action, Due, HoldFacts
from vault.retention.facts import ItemRow, OrphanObject, Progress, load_holds, load_orphans
from vault.retention.plan import make_plan

#: the rule recorded on the rows of orphaned deposits whose bytes a run deleted
ORPHAN_RULE = "deposit never acknowledged (orphaned); lock expired"
#: an orphan whose intent is younger than this (vault clock) is left for a later run: its
#: upload may still be running (recovery may have been run with a short grace period)
ORPHAN_SETTLE = dt.timedelta(days=1)


@dataclass
class RunResult:
    at: dt.datetime
    destroyed: list[dict[str, Any]] = field(default_factory=list)
    archived: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    keys_destroyed: int = 0
    kept: int = 0
    sealed: str = ""
    #: objects of orphaned deposits deleted by this run, and those left for a later one
    orphans_deleted: list[dict[str, Any]] = field(default_factory=list)
    orphans_pending: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "destroyed": self.destroyed,
            "archived": self.archived,
            "failed": self.failed,
            "keys_destroyed": self.keys_destroyed,
            "kept": self.kept,
            "orphans_deleted": self.orphans_deleted,
            "orphans_pending": self.orphans_pending,
            "sealed": self.sealed,
        }


def apply_retention(
    ctx: VaultContext,
    *,
    tenant: str | None = None,
    progress: Progress | None = None,
    seal: bool = True,
    who: Principal = SYSTEM,
) -> RunResult:
    at = ctx.now()
    plan = make_plan(ctx, at, tenant=tenant)
    result = RunResult(at, kept=len(plan.kept))
    deletes: dict[str, list[tuple[Due, ItemRow]]] = defaultdict(list)
    archives: list[tuple[Due, ItemRow]] = []
    for d, r in plan.due:
        if d.action is Action.ARCHIVE:
            archives.append((d, r))
        else:
            deletes[r.object_key].append((d, r))
    total = len(deletes) + len(archives)
    done = 0
    touched_keys: set[int] = set()
    leaves = StoredLeaves(ctx)
    for key, entries in deletes.items():
        _destroy_object(ctx, key, entries, at, result, who, leaves)
        touched_keys |= {r.subject_key_id for _, r in entries}
        done += 1
        if progress:
            progress(done, total)
    for d, r in archives:
        _archive(ctx, d, r, at, result, who)
        done += 1
        if progress:
            progress(done, total)
    result.keys_destroyed = destroy_unused_keys(ctx, touched_keys, at, reason="retention run", who=who)
    delete_orphans(ctx, at, result, tenant=tenant, who=who)
    with ctx.sessions() as s:
        record(
            s,
            ctx,
            who,
            "retention_run",
            tenant=tenant,
            at=at,
            destroyed=len(result.destroyed),
            archived=len(result.archived),
            failed=len(result.failed),
            kept=result.kept,
            keys_destroyed=result.keys_destroyed,
            orphans_deleted=len(result.orphans_deleted),
            orphans_pending=len(result.orphans_pending),
        )
        s.commit()
    if seal:
        result.sealed = seal_now(ctx)
    return result


def seal_now(ctx: VaultContext) -> str:
    """Seal the records just written; a TSA outage only delays it (the batcher retries)."""
    try:
        batches = seal_pending(ctx)
    except TSAUnavailable as e:
        return f"not sealed yet (no TSA answered: {e}); the batcher will seal the records"
    return f"sealed in batch {batches[-1].seq}" if batches else "nothing to seal"


def _destroy_object(
    ctx: VaultContext,
    key: str,
    entries: list[tuple[Due, ItemRow]],
    at: dt.datetime,
    result: RunResult,
    who: Principal,
    leaves: StoredLeaves,
) -> None:
    with ctx.sessions() as s:
        rows = {i.id: i for i in s.scalars(select(Item).where(Item.id.in_([r.facts.id for _, r in entries]))).all()}
    sealed: dict[str, dict[str, Any]] = {}
    for _, r in entries:  # what enters the destruction record comes from the sealed evidence
        doc = evidence_of(rows[r.facts.id], leaves) if r.facts.id in rows else "its index row is gone"
        if isinstance(doc, str):
            for _, other in entries:
                result.failed.append(
                    {"id": other.facts.id, "reason": f"not destroyed: the index row of {r.facts.id} does not match its "
                     f"sealed evidence ({doc}); run `vault audit`"}
                )  # fmt: skip
            return
        sealed[r.facts.id] = doc
    try:
        real_now = dt.datetime.now(dt.UTC)  # the store's locks run on real time, whatever the vault clock says
        why = ctx.store.blocking(key, manifest_key(key), now=real_now)
        if why:
            raise StorageError("the object store still protects this object", detail=why)
        deleted = ctx.store.delete_all_versions(key) + ctx.store.delete_all_versions(manifest_key(key))
    except StorageError as e:
        for _, r in entries:
            result.failed.append({"id": r.facts.id, "reason": str(e)})
        return
    with ctx.sessions() as s:
        items = {i.id: i for i in s.scalars(select(Item).where(Item.id.in_([r.facts.id for _, r in entries]))).all()}
        details = []
        for d, r in entries:
            it = items[r.facts.id]
            rule = it.disposal_rule if d.action is Action.DELETE_OBJECTS and it.disposal_rule else d.rule
            assert it.leaf is not None
            ev = sealed[it.id]
            details.append(
                {
                    "id": it.id,
                    "kind": ev["kind"],
                    "purpose": ev["purpose"],
                    "rule": rule,
                    "retain_until": iso(d.retain_until),
                    "received_at": ev["received_at"],
                    "sha256": content_sha256(ev),
                    "leaf": it.leaf.hex(),
                    "batch": it.batch_seq,
                }
            )
        entry = record(
            s,
            ctx,
            who,
            "destroy",
            tenant=entries[0][1].facts.tenant,
            at=at,
            objects=[key, manifest_key(key)],
            versions_deleted=len(deleted),
            items=details,
        )
        for det in details:
            s.execute(
                update(Item)
                .where(Item.id == det["id"])
                .values(disposal="destroyed", disposed_at=at, disposal_rule=det["rule"], disposal_record=entry.id)
            )
            result.destroyed.append({"id": det["id"], "rule": det["rule"], "record": entry.id})
        s.execute(update(Segment).where(Segment.object_key == key).values(deleted_at=at))
        s.commit()


def delete_orphans(
    ctx: VaultContext, at: dt.datetime, result: RunResult, *, tenant: str | None = None, who: Principal = SYSTEM
) -> None:
    """Delete the objects of orphaned deposits whose lock has ended (see the module doc)."""
    with ctx.sessions() as s:
        orphans = load_orphans(s, tenant=tenant)
        holds = load_holds(s, tenant=tenant)
    for o in orphans:
        what = {"object": o.object_key, "tenant": o.tenant, "items": o.items, "segments": o.segments}
        if o.shared_with is not None:  # the index says acknowledged data is in it: never delete
            result.orphans_pending.append({**what, "reason": f"not deleted: {o.shared_with} points to this object"})
            continue
        cases = _hold_cases(o, holds)
        if cases:
            result.orphans_pending.append({**what, "reason": f"legal hold: case {', '.join(cases)}"})
            continue
        if o.since > at - ORPHAN_SETTLE:
            result.orphans_pending.append(
                {**what, "reason": f"written at {iso(o.since)}: its upload may still be running; a later run decides"}
            )
            continue
        objects = [o.object_key, manifest_key(o.object_key)]
        try:
            real_now = dt.datetime.now(dt.UTC)  # the store's locks run on real time, whatever the vault clock says
            why = ctx.store.blocking(*objects, now=real_now)
            if why:
                raise StorageError("the object store still protects this object", detail=why)
            deleted = ctx.store.delete_all_versions(objects[0]) + ctx.store.delete_all_versions(objects[1])
        except StorageError as e:
            result.orphans_pending.append({**what, "reason": str(e)})
            continue
        with ctx.sessions() as s:
            entry = record(
                s,
                ctx,
                who,
                "orphan_destroy",
                tenant=o.tenant,
                at=at,
                objects=objects,
                versions_deleted=len(deleted),
                items=o.items,
                segments=o.segments,
                rule=ORPHAN_RULE,
            )
            if o.items:
                s.execute(
                    update(Item)
                    .where(Item.id.in_(o.items), Item.state == "orphaned")
                    .values(disposal="destroyed", disposed_at=at, disposal_rule=ORPHAN_RULE, disposal_record=entry.id)
                )
            if o.segments:
                s.execute(
                    update(Segment).where(Segment.id.in_(o.segments), Segment.state == "orphaned").values(deleted_at=at)
                )
            s.commit()
        result.orphans_deleted.append({**what, "versions_deleted": len(deleted), "record": entry.id})


def _hold_cases(o: OrphanObject, holds: list[HoldFacts]) -> list[str]:
    """The cases of the index holds covering an orphan (as ``HoldFacts.covers`` does for items;
    an orphaned segment has no item rows, so only a tenant-wide hold covers it here, and an S3
    legal hold set on its versions blocks it in the store)."""
    cases = set()
    for h in holds:
        if h.tenant != o.tenant:
            continue
        if h.item_id is not None:
            if h.item_id in o.items:
                cases.add(h.case_ref)
        elif h.session is None or h.session in o.sessions:
            cases.add(h.case_ref)
    return sorted(cases)


def _archive(ctx: VaultContext, d: Due, r: ItemRow, at: dt.datetime, result: RunResult, who: Principal) -> None:
    until = r.facts.archive_until
    assert until is not None
    lock = extension_lock(ctx, until)
    tier = "recorded"
    try:
        if lock is not None:
            for k, version_id in ctx.store.stored_versions(r.object_key, manifest_key(r.object_key)):
                ctx.store.extend_retention(k, version_id, lock.mode, lock.retain_until)
        if r.version_id is not None:
            tier = ctx.store.archive_tier(r.object_key, r.version_id)
    except StorageError as e:
        result.failed.append({"id": r.facts.id, "reason": str(e)})
        return
    with ctx.sessions() as s:
        entry = record(
            s,
            ctx,
            who,
            "archive",
            tenant=r.facts.tenant,
            at=at,
            item=r.facts.id,
            rule=d.rule,
            active_until=iso(d.retain_until),
            archive_until=iso(until),
            tier=tier,
        )
        s.execute(
            update(Item)
            .where(Item.id == r.facts.id)
            .values(disposal="archived", disposed_at=at, storage_tier=tier, disposal_record=entry.id)
        )
        s.commit()
    result.archived.append({"id": r.facts.id, "archive_until": iso(until), "tier": tier})


def destroy_unused_keys(
    ctx: VaultContext, key_ids: set[int], at: dt.datetime, *, reason: str, who: Principal = SYSTEM
) -> int:
    """Destroy each of these keys that no live item (nor a deposit in flight) still needs."""
    if not key_ids:
        return 0
    n = 0
    with ctx.sessions() as s:
        for kid in sorted(key_ids):
            key = s.scalars(select(SubjectKey).where(SubjectKey.id == kid).with_for_update()).first()
            if key is None or key.wrapped_key is None:
                continue
            needed = s.scalars(
                select(Item.id)
                .where(
                    Item.subject_key_id == kid,
                    Item.state != "orphaned",
                    (Item.disposal.is_(None)) | (Item.disposal == "archived"),
                )
                .limit(1)
            ).first()
            if needed is not None:
                continue
            ref = subject_ref_of(ctx, key.tenant_id, key.subject)
            destroy_key(s, ctx, key, at)
            record(
                s,
                ctx,
                who,
                "key_destroyed",
                tenant=key.tenant_id,
                subject_ref=ref,
                at=at,
                key=kid,
                scope=key.scope,
                generation=key.generation,
                reason=reason,
            )
            n += 1
        s.commit()
    ctx.data_keys.forget(key_ids)
    return n
