"""``vault index rebuild --from-store``: a lost index recreated from what the store holds.

Every item's ``evidence.json``, receipt and sealed metadata are written WORM next to its bytes
(``*.manifest.json``), and every batch's manifest, leaves, seal, token and journal bodies under
``batches/``. From them this rebuilds: the batches (each checked: seal, token, tree, chain),
the items and segments (pinned versions, receipts), their batch paths, the sealed journal,
tenants with their contracts and legal holds (replayed from the journal), who deposited what.

What the store cannot give back, by design: the wrapped data keys (they must stay erasable,
so they live only in the index and its backups). ``keys_from`` names an index backup to take
them from (with the item -> key mapping of the items it knew); an item whose key is not found
gets a "lost" key row: it verifies down to its stored ciphertext, but cannot be decrypted.
Also lost: journal entries not yet sealed, restrictions and objections (kept by subject id,
which the journal does not hold), and the rows of destroyed items (their destruction records
are in the rebuilt journal).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, cast

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Table, create_engine, func, insert, inspect, select, text, update
from sqlalchemy.orm import Session

from vault.audit.completeness import stored_batches
from vault.batch.manifest import BATCH_TYPE, GENESIS_ROOT, path_json
from vault.context import VaultContext
from vault.errors import ConfigError, InputError, NotFound, SealError, StorageError, TimestampError
from vault.evidence.manifest import parse_iso
from vault.evidence.receipt import Receipt
from vault.index.models import Batch, Hold, Item, JournalEntry, PseudonymKey, Segment, SubjectKey, Tenant
from vault.privacy.erasure import ERASURE_RULE
from vault.seal.cms import verify_detached
from vault.storage.listing import iter_versions
from vault.timestamp.client import verify_token
from vault.tree.hashtree import build_tree

LOST = "#lost"


@dataclass
class RebuildReport:
    batches: int = 0
    items: int = 0
    sealed_items: int = 0
    segments: int = 0
    journal_entries: int = 0
    tenants: int = 0
    holds: int = 0
    keys_restored: int = 0
    #: journal pseudonym keys taken from the backup (without them, old entries' subjects are unlinkable)
    pseudonym_keys_restored: int = 0
    items_without_key: int = 0
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _empty(s: Session) -> bool:
    return all(int(s.scalar(select(func.count()).select_from(m)) or 0) == 0 for m in (Item, Batch, JournalEntry))


def rebuild_from_store(ctx: VaultContext, *, keys_from: str | None = None) -> RebuildReport:
    report = RebuildReport()
    with ctx.sessions() as s:
        if not _empty(s):
            raise InputError(
                "the index is not empty", detail="rebuild into a new, empty database (move the old one aside first)"
            )
    backup = _Backup(keys_from) if keys_from else None
    try:
        if backup is not None:
            with ctx.sessions() as s:
                for row in backup.pseudonym_keys:
                    s.execute(insert(PseudonymKey.__table__).values(**dict(row._mapping)))  # type: ignore[arg-type]
                s.commit()
            report.pseudonym_keys_restored = len(backup.pseudonym_keys)
        _items(ctx, report, backup)
        _batches(ctx, report)
        _replay_journal(ctx, report)
        _advance_sequences(ctx)
        from vault.checkpoint.log import sync

        sync(ctx)  # the checkpoint log, from the rebuilt batches (and the signed notes in the store)
    finally:
        if backup:
            backup.close()
    return report


class _Backup:
    """An index backup: its data keys, and which key each item it knew used."""

    def __init__(self, url: str) -> None:
        try:
            self.engine = create_engine(url)
            with self.engine.connect() as c:
                self.keys = {r.id: r for r in c.execute(select(SubjectKey.__table__))}
                self.item_keys = dict(c.execute(select(Item.id, Item.subject_key_id)).all())  # type: ignore[arg-type]
                # the journal's pseudonym keys (a backup from before they existed has none)
                self.pseudonym_keys = (
                    list(c.execute(select(PseudonymKey.__table__)))
                    if inspect(c).has_table(PseudonymKey.__tablename__)
                    else []
                )
        except Exception as e:
            raise ConfigError("cannot read the index backup", detail=f"{url}: {type(e).__name__}: {e}") from e

    def close(self) -> None:
        self.engine.dispose()


def _oldest_manifests(ctx: VaultContext) -> Any:
    """(key, oldest version id) of every item and segment manifest in the store."""
    last_key, oldest = None, None
    for v in iter_versions(ctx.store, "t/"):
        if not v.key.endswith(".manifest.json") or v.delete_marker:
            continue
        if v.key != last_key and last_key is not None and oldest is not None:
            yield last_key, oldest
            oldest = None
        last_key, oldest = v.key, v.version_id  # newest first: the last one seen is the oldest
    if last_key is not None and oldest is not None:
        yield last_key, oldest


def _key_for(
    s: Session,
    tenant: str,
    purpose: str,
    item_id: str,
    backup: _Backup | None,
    report: RebuildReport,
    made: dict[Any, int],
) -> int:
    if backup is not None and item_id in backup.item_keys:
        kid = backup.item_keys[item_id]
        if kid not in made:
            saved = backup.keys.get(kid)
            if saved is not None:
                s.execute(insert(SubjectKey.__table__).values(**dict(saved._mapping)))  # type: ignore[arg-type]
                report.keys_restored += 1
                made[kid] = kid
        if kid in made:
            return made[kid]
    report.items_without_key += 1
    scope = (tenant, purpose)
    if scope not in made:
        lost = SubjectKey(
            tenant_id=tenant, subject=LOST, scope=purpose, generation=1, wrapped_key=None, kek_id="lost",
            created_at=dt.datetime.now(dt.UTC), destroyed_at=None,
        )  # fmt: skip
        s.add(lost)
        s.flush()
        made[scope] = lost.id
    return made[scope]


def _tenant(s: Session, tenant: str, at: dt.datetime, default_years: int, report: RebuildReport) -> None:
    if s.get(Tenant, tenant) is None:
        s.add(Tenant(id=tenant, proof_years=default_years, created_at=at))
        s.flush()
        report.tenants += 1


def _items(ctx: VaultContext, report: RebuildReport, backup: _Backup | None) -> None:
    made: dict[Any, int] = {}
    with ctx.sessions() as s:
        for key, version in _oldest_manifests(ctx):
            try:
                doc = json.loads(ctx.store.get(key, version))
                object_key = str(doc["object"])
                signed = {"body": doc["receipt"]["body"], "seal": doc["receipt"]["seal"]}
                entries = list(doc["items"])
            except (NotFound, StorageError, ValueError, KeyError, TypeError) as e:
                report.problems.append(f"{key}: unreadable manifest ({type(e).__name__})")
                continue
            rows = []
            for it in entries:
                try:
                    evidence = str(it["evidence"]).encode()
                    ev = json.loads(evidence)
                    pin = ev["storage"]
                    received = parse_iso(ev["received_at"])
                    if ev["id"] != it["id"] or pin["key"] != object_key:
                        raise ValueError("the manifest's item and its evidence disagree")
                except (ValueError, KeyError, TypeError) as e:
                    report.problems.append(f"{key}: item {it.get('id') if isinstance(it, dict) else '?'}: {e}")
                    continue
                _tenant(s, ev["tenant"], received, ctx.settings.default_proof_years, report)
                receipt = Receipt.from_parts(
                    ev["id"],
                    evidence,
                    json.dumps(it["path"]).encode(),
                    json.dumps(signed).encode(),
                )
                segment = "/segments/" in object_key
                rows.append(
                    {
                        "id": ev["id"],
                        "tenant_id": ev["tenant"],
                        "session": ev["session"],
                        "kind": ev["kind"],
                        "purpose": ev["purpose"],
                        "retention_class": ev["retention_class"],
                        "subject_key_id": _key_for(s, ev["tenant"], ev["purpose"], ev["id"], backup, report, made),
                        "state": "stored",
                        "received_at": received,
                        "size": ev["content"]["size"],
                        "sha256": ev["content"].get("sha256"),  # vault-evidence/2 keeps salted digests only
                        "object_key": object_key,
                        "version_id": pin["version_id"],
                        "offset": pin["offset"],
                        "length": pin["length"],
                        "segment_id": object_key.rsplit("/", 1)[1] if segment else None,
                        "retain_until": parse_iso(pin["lock"]["retain_until"]),
                        "lock_mode": pin["lock"]["mode"],
                        "evidence": evidence,
                        "leaf": hashlib.sha256(evidence).digest(),
                        "meta_sealed": base64.b64decode(it["meta_sealed"]) if it.get("meta_sealed") else None,
                        "receipt": receipt.path_json() if segment else receipt.encoded(),
                        "corrects": None,
                    }
                )
            if not rows:
                continue
            if rows[0]["segment_id"]:
                first = rows[0]
                s.add(
                    Segment(
                        id=first["segment_id"],
                        tenant_id=first["tenant_id"],
                        retention_class=first["retention_class"],
                        object_key=object_key,
                        version_id=first["version_id"],
                        state="stored",
                        receipt=json.dumps(signed, sort_keys=True, separators=(",", ":")).encode(),
                        size=sum(r["length"] for r in rows),
                        records=len(rows),
                        retain_until=first["retain_until"],
                        created_at=first["received_at"],
                    )
                )
                s.flush()
                report.segments += 1
            s.execute(insert(cast(Table, Item.__table__)), rows)
            report.items += len(rows)
        s.commit()


def _batches(ctx: VaultContext, report: RebuildReport) -> None:
    tsa_roots = [r for t in ctx.tsas for r in t.roots]
    previous = GENESIS_ROOT
    expected = 1
    for b in stored_batches(ctx):
        objs: dict[str, bytes] = {}
        versions: dict[str, str] = {}
        for name, vs in b.versions.items():
            kept = [v for v in vs if not v.delete_marker]
            if kept:
                objs[name] = ctx.store.get(kept[-1].key, kept[-1].version_id)
                versions[name] = kept[-1].version_id
        try:
            manifest = json.loads(objs["batch.json"])
            if manifest.get("type") != BATCH_TYPE:
                raise ValueError("not a batch manifest")
            seq, root = int(manifest["seq"]), str(manifest["root"])
            leaves = [bytes.fromhex(h) for h in json.loads(objs["leaves.json"])["leaves"]]
            token = verify_token(objs["timestamp.tsr"], bytes.fromhex(root), tsa_roots)
            verify_detached(objs["seal.p7s"], objs["batch.json"], ctx.seal_roots, at=token.gen_time)
            tree = build_tree(leaves)
            if seq != expected or manifest["previous_root"] != previous or tree.root.hex() != root:
                raise ValueError(f"the chain breaks at batch {seq} (expected {expected})")
        except (KeyError, ValueError, TypeError, SealError, TimestampError) as e:
            report.problems.append(f"{b.prefix}: not imported: {e}; the chain stops here")
            return
        n_items, n_journal = int(manifest["items"]), int(manifest["journal_entries"])
        bodies = [str(x).encode() for x in json.loads(objs.get("journal.json", b'{"entries": []}'))["entries"]]
        chain = token.tsa_cert.public_bytes(Encoding.PEM).decode() + "".join(
            r.public_bytes(Encoding.PEM).decode() for r in tsa_roots
        )
        with ctx.sessions() as s:
            s.add(
                Batch(
                    seq=seq, root=root, previous_root=previous, manifest=objs["batch.json"], seal=objs["seal.p7s"],
                    tsr=objs["timestamp.tsr"], tsa_url="(rebuilt from the store)", tsa_chain=chain,
                    gen_time=token.gen_time, leaf_count=len(leaves), journal_entries=n_journal,
                    object_prefix=b.prefix, versions=json.dumps(versions, sort_keys=True),
                    created_at=parse_iso(manifest["created_at"]),
                )
            )  # fmt: skip
            s.flush()
            for i, leaf in enumerate(leaves[1 : 1 + n_items], start=1):
                done = s.execute(
                    update(Item)
                    .where(Item.leaf == leaf)
                    .values(state="sealed", batch_seq=seq, path=json.dumps(path_json(leaf, tree.path(i), i)))
                )
                report.sealed_items += int(getattr(done, "rowcount", 0) or 0)
            for j, body in enumerate(bodies):
                i = 1 + n_items + j
                entry = json.loads(body)
                s.add(
                    JournalEntry(
                        id=entry["id"], at=parse_iso(entry["at"]), actor=entry["actor"], action=entry["action"],
                        tenant_id=entry.get("tenant"), subject_ref=entry.get("subject_ref"), body=body, leaf=leaves[i],
                        batch_seq=seq, path=json.dumps(path_json(leaves[i], tree.path(i), i)),
                    )
                )  # fmt: skip
            s.commit()
        report.batches += 1
        report.journal_entries += len(bodies)
        previous, expected = root, seq + 1


def _replay_journal(ctx: VaultContext, report: RebuildReport) -> None:
    """Contracts, holds, who deposited, and what was destroyed or erased, from the sealed journal."""
    with ctx.sessions() as s:
        for e in s.scalars(select(JournalEntry).order_by(JournalEntry.batch_seq, JournalEntry.seq)):
            doc = json.loads(e.body)
            d = doc.get("details", {})
            tenant = doc.get("tenant")
            at = parse_iso(doc["at"])
            if tenant and doc["action"] in ("tenant_create", "set_proof_years", "end_service", "hold_add"):
                _tenant(s, tenant, at, ctx.settings.default_proof_years, report)
            row = s.get(Tenant, tenant) if tenant else None
            match doc["action"]:
                case "tenant_create" if row is not None:
                    row.proof_years = int(d.get("proof_years", row.proof_years))
                case "set_proof_years" if row is not None:
                    row.proof_years = int(d["years"])
                case "end_service" if row is not None:
                    row.service_ended_on = dt.date.fromisoformat(d["ended_on"])
                case "hold_add":
                    if s.get(Hold, d.get("hold")) is None:
                        s.add(
                            Hold(
                                id=d.get("hold"), tenant_id=tenant, session=d.get("session"), item_id=d.get("item"),
                                case_ref=d.get("case"), placed_at=at, placed_by=doc["actor"],
                            )
                        )  # fmt: skip
                        report.holds += 1
                case "hold_release":
                    hold = s.get(Hold, d.get("hold"))
                    if hold is not None:
                        hold.released_at, hold.released_by = at, doc["actor"]
                case "deposit":
                    s.execute(update(Item).where(Item.id.in_(d.get("items", []))).values(deposited_by=doc["actor"]))
                case "destroy":
                    for it in d.get("items", []):
                        s.execute(
                            update(Item)
                            .where(Item.id == it["id"])
                            .values(
                                disposal="destroyed", disposed_at=at, disposal_rule=it.get("rule"), disposal_record=e.id
                            )
                        )
                case "subject_erase":
                    s.execute(
                        update(Item)
                        .where(Item.id.in_(d.get("erased_now", [])))
                        .values(disposal="erased", disposed_at=at, disposal_rule=ERASURE_RULE, disposal_record=e.id)
                    )
                case _:
                    pass
            s.flush()
        s.commit()


def _advance_sequences(ctx: VaultContext) -> None:
    """Rows inserted with their old ids (holds, restored keys): PostgreSQL's sequences must
    move past them, or the next hold or key would collide (SQLite takes max(rowid) + 1)."""
    if ctx.engine.dialect.name != "postgresql":
        return
    with ctx.engine.begin() as c:
        for table in ("holds", "subject_keys"):
            c.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 (fixed names)
                    f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"
                )
            )
