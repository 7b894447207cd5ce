"""Online verification: re-read the pinned version from object storage and check everything.

Storage is not trusted (an operator can bypass WORM through a back door); this re-derives
every digest from the bytes actually stored, then checks path, seal, token and chain.

The index is not trusted either: it is where the vault looks things up, not evidence. Every
value read from it is untrusted input, checked for the type the vault writes (a retyped value,
even with the same bytes, is a tampered one), then against what is sealed: the copies it keeps
of the item's ``evidence.json`` (tenant, session, kind, digest, pinned version...), of the
receipt, of the batch objects and of its segment. A value that fails is a failed check named
after it, never an exception. Columns that are decisions, not evidence (the retain-until date,
the archive, who deposited), are only type-checked; see ``NOT_EVIDENCE``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DataError, ProgrammingError

from vault.context import VaultContext
from vault.devices.evidence import FIELD as CLIENT_FIELD
from vault.devices.evidence import is_sealed as is_sealed_statement
from vault.devices.evidence import open_field as open_statement
from vault.envelope.stream import DecryptionError, decrypt_bytes
from vault.errors import IndexTampered, InputError, KeyError_, NotFound, SealError, StorageError
from vault.evidence.ids import ID_RE
from vault.evidence.kinds import RECORD_KINDS
from vault.evidence.manifest import MANIFEST_TYPES, is_salted, iso, parse_iso
from vault.evidence.receipt import verify_receipt
from vault.evidence.sealed import open_salt
from vault.index.db import altered_schema, checked_row
from vault.index.models import Batch, Item, JournalEntry, Segment, SubjectKey
from vault.journal.entry import names_destroyed, path_problem
from vault.proof.payload import PayloadRead
from vault.verify.client_signature import check_client_signature
from vault.verify.proof_checks import check_batch_proof, check_payload, load_json, parse_json
from vault.verify.report import Report

#: item columns that are not evidence: verification checks their type only, a changed value
#: leaves the item valid (each says why)
NOT_EVIDENCE: dict[str, str] = {
    "seq": "the row's number in the index, never sealed",
    "retain_until": "a retention decision (extended by contract changes), not a fact of the deposit",
    "archive_until": "a retention decision",
    "storage_tier": "where the archive keeps the bytes, a storage decision",
    "corrects": "a pointer from a correction to its original, read by the rectification view only",
    "deposited_by": "an access-control fact; the sealed journal entry of the deposit is the evidence",
}

_STATES = ("writing", "stored", "sealed", "orphaned")
_DISPOSALS = (None, "archived", "erased", "destroyed")
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def load_item(ctx: VaultContext, item_id: str, *, with_batch: bool = True) -> tuple[Item, Batch | None]:
    """The item's index row and its batch's (``with_batch``), every value of the type the vault
    writes there.

    :class:`NotFound` when there is no row; :class:`IndexTampered` (a verdict, exit 1) naming
    the column when a value is of another type, NULL where a value belongs, unreadable, or
    when the data key the row points to is missing (a missing batch comes back as None)."""
    with ctx.sessions() as s:
        item = checked_row(s, Item, id=item_id)
        if item is None:
            raise NotFound("no such item", detail=item_id)
        if checked_row(s, SubjectKey, id=item.subject_key_id) is None:
            raise IndexTampered(
                f"items.subject_key_id {item.subject_key_id} names no data key", detail=f"item {item_id}"
            )
        if not with_batch or item.batch_seq is None:
            return item, None
        return item, checked_row(s, Batch, check="batch_record", seq=item.batch_seq)


def stored_batch_objects(ctx: VaultContext, batch: Batch) -> dict[str, bytes] | str:
    """The batch files as stored WORM (pinned versions); a reason string when they differ."""
    try:
        versions = load_json(batch.versions, "batches.versions", binary=False)
    except InputError as e:
        return f"batch {batch.seq}: {e}"
    out: dict[str, bytes] = {}
    for name, expected in (
        ("batch.json", batch.manifest),
        ("seal.p7s", batch.seal),
        ("timestamp.tsr", batch.tsr),
    ):
        version = versions.get(name)
        if not isinstance(version, str) or not isinstance(batch.object_prefix, str):
            return f"object missing: batches.versions names no version of {name} of batch {batch.seq}"
        try:
            data = ctx.store.get(batch.object_prefix + name, version)
        except (NotFound, StorageError) as e:
            return f"object missing: {name} of batch {batch.seq}: {e}"
        if data != expected:
            return f"digest mismatch: stored {name} of batch {batch.seq} differs from the index copy"
        out[name] = data
    # the other pins (read by retention and the audit) must name stored versions too
    try:
        entries = load_json(out["batch.json"], "batch.json").get("journal_entries")
    except InputError as e:
        return f"batch {batch.seq}: {e}"
    others = ["leaves.json", *(["journal.json"] if entries else [])]
    for name in sorted({*others, *versions} - set(out)):
        version = versions.get(name)
        if not isinstance(version, str):
            return f"object missing: batches.versions names no version of {name} of batch {batch.seq}"
        try:
            ctx.store.head(batch.object_prefix + name, version)
        except (NotFound, StorageError) as e:
            return f"object missing: {name} of batch {batch.seq}: {e}"
    return out


def batch_row_problems(batch: Batch, manifest: dict[str, Any], gen_time: dt.datetime | None) -> list[str]:
    """Where the index's row of a batch says other than its sealed ``batch.json`` and token."""
    found = []
    for column, value, sealed in (
        ("seq", batch.seq, manifest.get("seq")),
        ("root", batch.root, manifest.get("root")),
        ("previous_root", batch.previous_root, manifest.get("previous_root")),
        ("leaf_count", batch.leaf_count, manifest.get("leaf_count")),
        ("journal_entries", batch.journal_entries, manifest.get("journal_entries", 0)),
        ("created_at", iso(batch.created_at), manifest.get("created_at")),
    ):
        if value != sealed:
            found.append(f"batches.{column} {_r(value)} (sealed {_r(sealed)})")
    if gen_time is not None and batch.gen_time != gen_time:
        found.append(f"batches.gen_time {iso(batch.gen_time)} (the token says {iso(gen_time)})")
    return found


def _check_ciphertext_only(ctx: VaultContext, item: Item, sealed: str, report: Report) -> None:
    """Without a usable key the stored bytes can still be compared with their sealed digest."""
    reader = PayloadRead(ctx, item)
    try:
        for _ in reader.ciphertext():
            pass
    except (NotFound, StorageError) as e:
        report.add("object_version", False, f"object missing: {e}")
        return
    _report_stored_bytes(report, reader.ciphertext_sha256, sealed)


def _report_stored_bytes(report: Report, found: str, sealed: str) -> None:
    report.add(
        "stored_bytes",
        found == sealed,
        "stored ciphertext matches its sealed digest"
        if found == sealed
        else f"digest mismatch: stored ciphertext {found}, sealed {sealed}",
    )


def _r(value: object, limit: int = 80) -> str:
    """A value read from the index or a manifest, for a report: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _obj(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """``doc[key]`` if it is a JSON object, else an empty one (sealed or not, read defensively)."""
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    return value if isinstance(value, list) else []


def _id_time(item_id: str) -> dt.datetime | None:
    """When an item id was made (its first 48 bits are milliseconds since 1970)."""
    if not isinstance(item_id, str) or not ID_RE.match(item_id):
        return None
    n = 0
    for ch in item_id[3:]:
        n = n * 32 + _ALPHABET.index(ch)
    return dt.datetime.fromtimestamp((n >> 80) / 1000, dt.UTC)


def _journalled_deposit(ctx: VaultContext, item_id: str) -> str | None:
    """The journal entry that records the deposit of ``item_id`` (its deposit time is in the id)."""
    at = _id_time(item_id)
    if at is None:
        return None
    window = dt.timedelta(seconds=2)
    with ctx.sessions() as s:
        rows = s.execute(
            select(JournalEntry.id, JournalEntry.body).where(
                JournalEntry.action == "deposit", JournalEntry.at.between(at - window, at + window)
            )
        ).all()
    for entry_id, body in rows:
        try:
            details = load_json(body, "journal.body").get("details")
        except InputError:
            continue
        if isinstance(details, dict) and isinstance(details.get("items"), list) and item_id in details["items"]:
            return str(entry_id)
    return None


def verify_item(ctx: VaultContext, item_id: str) -> Report:
    report = Report(item_id)
    try:
        return _verify_item(ctx, item_id, report)
    except (ProgrammingError, DataError) as e:  # the schema was altered under the vault
        found = altered_schema(e)
        report.add(found.check, False, found.finding)
        return report


def _verify_item(ctx: VaultContext, item_id: str, report: Report) -> Report:
    try:
        item, batch = load_item(ctx, item_id)
    except IndexTampered as e:
        report.add(e.check, False, e.finding)
        return report
    except NotFound:
        entry = _journalled_deposit(ctx, item_id)
        if entry is None:
            raise
        report.add(
            "index_record",
            False,
            f"no index row for {item_id}, yet journal entry {entry} records its deposit: the row was deleted "
            "or its id altered",
        )
        return report
    if item.state in ("writing", "orphaned"):
        report.add("index_record", False, f"item is {item.state}: never acknowledged, not evidence")
        return report
    report.info["tenant"] = item.tenant_id
    evidence = _check_index_record(item, batch, report)
    if evidence is None:
        return report
    pin = _check_pin(item, evidence, report)
    _check_receipt(ctx, item, evidence, report)

    if item.disposal in ("erased", "destroyed"):
        _check_disposal(ctx, item, report)
    elif pin is not None:
        _check_content(ctx, _pinned(item, evidence, pin), pin, evidence, report)

    if batch is None and item.state == "sealed":
        report.add("batch_objects", False, f"chain broken: item is sealed in batch {item.batch_seq}, which is missing")
        return report
    if batch is None:
        report.pending = True
        report.add("sealed", True, "deposited and durable; not yet sealed (run `vault seal`)")
        return report
    _check_batch(ctx, item, batch, report)
    return report


def _check_index_record(item: Item, batch: Batch | None, report: Report) -> dict[str, Any] | None:
    """The row's own consistency, and its copies of the sealed ``evidence.json``; the parsed
    manifest, or None when there is none to go on."""
    bad: list[str] = []
    if item.state not in _STATES:
        bad.append(f"items.state is {_r(item.state)}, not a state the vault writes")
    if item.disposal not in _DISPOSALS:
        bad.append(f"items.disposal is {_r(item.disposal)}, not a disposal the vault writes")
    if item.disposal is None:  # never archived, erased or destroyed: nothing may say when or why
        bad += [
            f"items.{column} is set on an item that was never disposed of"
            for column, value in (
                ("disposed_at", item.disposed_at),
                ("disposal_rule", item.disposal_rule),
                ("disposal_record", item.disposal_record),
            )
            if value is not None
        ]
    if item.state == "stored" and (item.batch_seq is not None or batch is not None):
        bad.append(f"items.state is 'stored' but items.batch_seq names batch {item.batch_seq}")
    if item.evidence is None:
        report.add("index_record", False, "; ".join([*bad, f"items.evidence is NULL for a {item.state} item"]))
        return None
    try:
        evidence = load_json(item.evidence, "items.evidence")
        if evidence.get("type") not in MANIFEST_TYPES:
            raise InputError(f"items.evidence is not a {' or '.join(sorted(MANIFEST_TYPES))} manifest")
    except InputError as e:
        report.add("index_record", False, "; ".join([*bad, str(e)]))
        return None
    content = _obj(evidence, "content")
    storage = _obj(evidence, "storage")
    lock = _obj(storage, "lock")
    for column, value, sealed in (
        ("id", item.id, evidence.get("id")),
        ("tenant_id", item.tenant_id, evidence.get("tenant")),
        ("session", item.session, evidence.get("session")),
        ("kind", item.kind, evidence.get("kind")),
        ("purpose", item.purpose, evidence.get("purpose")),
        ("retention_class", item.retention_class, evidence.get("retention_class")),
        ("received_at", iso(item.received_at), evidence.get("received_at")),
        ("size", item.size, content.get("size")),
        ("sha256", item.sha256, content.get("sha256")),
        ("lock_mode", item.lock_mode, lock.get("mode")),
    ):
        if value != sealed:
            bad.append(f"items.{column} {_r(value)} differs from the sealed evidence.json ({_r(sealed)})")
    leaf = hashlib.sha256(bytes(item.evidence)).digest()
    if item.leaf != leaf:
        bad.append("items.leaf is not the SHA-256 of items.evidence")
    report.add(
        "index_record",
        not bad,
        f"{item.kind} of tenant {item.tenant_id}, {item.state}" if not bad else "; ".join(bad),
    )
    return evidence


def _check_pin(item: Item, evidence: dict[str, Any], report: Report) -> dict[str, Any] | None:
    """The sealed storage pin, if well-formed, compared with the row's copy of it."""
    pin = evidence.get("storage")
    if (
        not isinstance(pin, dict)
        or not all(isinstance(pin.get(k), str) for k in ("bucket", "key", "version_id", "ciphertext_sha256"))
        or not all(isinstance(pin.get(k), int) and pin[k] >= 0 for k in ("offset", "length"))
    ):
        report.add("storage_pin", False, "the evidence's storage pin is malformed")
        return None
    differ = [
        f"items.{column} {_r(value)} (sealed {_r(pin[key])})"
        for column, value, key in (
            ("object_key", item.object_key, "key"),
            ("version_id", item.version_id, "version_id"),
            ("offset", item.offset, "offset"),
            ("length", item.length, "length"),
        )
        if value != pin[key]
    ]
    report.add(
        "storage_pin",
        not differ,
        f"{pin['bucket']}/{pin['key']} version {pin['version_id']}"
        if not differ
        else "the index's pin differs from the sealed one: " + ", ".join(differ),
    )
    return pin


def _is_record(evidence: dict[str, Any]) -> bool:
    return evidence.get("kind") in {k.value for k in RECORD_KINDS}


def _pinned(item: Item, evidence: dict[str, Any], pin: dict[str, Any]) -> Item:
    """A detached copy of the row that reads exactly the sealed pin (not the index's copy)."""
    record = _is_record(evidence)
    return Item(
        id=item.id,
        subject_key_id=item.subject_key_id,
        object_key=pin["key"],
        version_id=pin["version_id"],
        offset=pin["offset"] if record else None,
        length=pin["length"] if record else None,
        segment_id=(item.segment_id or "?") if record else None,
        meta_sealed=item.meta_sealed,
    )


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise InputError(f"{what} is not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError(f"{what} is not base64", detail=str(e)) from None


def _check_receipt(ctx: VaultContext, item: Item, evidence: dict[str, Any], report: Report) -> None:
    """The deposit receipt the index keeps (the item's, or its path plus its segment's signed
    body): its seal verifies, it covers this very evidence.json, and, for a record, its segment's
    row agrees with it."""
    try:
        if item.receipt is None:
            raise InputError("items.receipt is NULL")
        segment: Segment | None = None
        if _is_record(evidence):
            segment = _segment_of(ctx, item)
            path = parse_json(item.receipt, "items.receipt")
            if segment.receipt is None:
                raise InputError(f"segments.receipt of {segment.id} is NULL")
            signed = load_json(segment.receipt, "segments.receipt")
            receipt: dict[str, Any] = {
                "item": item.id,
                "evidence": base64.b64encode(bytes(item.evidence or b"")).decode(),
                "path": path,
                "body": signed.get("body"),
                "seal": signed.get("seal"),
            }
        else:
            if item.segment_id is not None:
                raise InputError(f"items.segment_id {item.segment_id!r} is set on a {item.kind} file item")
            receipt = load_json(item.receipt, "items.receipt")
            if _b64(receipt.get("evidence"), "the receipt's evidence") != item.evidence:
                raise InputError("the receipt in the index is for another evidence.json")
        manifest = verify_receipt(receipt, ctx.seal_roots)
        body = load_json(_b64(receipt.get("body"), "the receipt's body"), "the receipt's body")
    except (InputError, SealError) as e:
        report.add("receipt", False, f"deposit receipt invalid: {e}")
        return
    except IndexTampered as e:
        report.add("receipt", False, f"{e.check}: {e.finding}")
        return
    storage = _obj(body, "storage")
    pin = _obj(evidence, "storage")
    differ = [
        what
        for what, ok in (
            ("its evidence", manifest.get("id") == item.id),
            ("tenant", body.get("tenant") == evidence.get("tenant")),
            ("received_at", body.get("received_at") == evidence.get("received_at")),
            ("object", storage.get("key") == pin.get("key") and storage.get("version_id") == pin.get("version_id")),
        )
        if not ok
    ]
    if segment is not None:
        differ += _segment_differs(segment, evidence, body)
    report.add(
        "receipt",
        not differ,
        "the deposit receipt verifies and covers this evidence.json"
        if not differ
        else "the deposit receipt and the index disagree: " + ", ".join(differ),
    )


def _segment_of(ctx: VaultContext, item: Item) -> Segment:
    if item.segment_id is None:
        raise InputError(f"items.segment_id is NULL on a {item.kind} record")
    with ctx.sessions() as s:
        segment = checked_row(s, Segment, check="segment_record", id=item.segment_id)
    if segment is None:
        raise InputError(f"items.segment_id {item.segment_id!r} names no segment")
    return segment


def _segment_differs(segment: Segment, evidence: dict[str, Any], body: dict[str, Any]) -> list[str]:
    """Where the segment's row says other than the sealed evidence and signed receipt body."""
    pin = _obj(evidence, "storage")
    return [
        f"segments.{column} {_r(value)} (sealed {_r(sealed)})"
        for column, value, sealed in (
            ("tenant_id", segment.tenant_id, evidence.get("tenant")),
            ("retention_class", segment.retention_class, evidence.get("retention_class")),
            ("object_key", segment.object_key, pin.get("key")),
            ("version_id", segment.version_id, pin.get("version_id")),
            ("state", segment.state, "stored"),
            ("records", segment.records, body.get("count")),
            ("created_at", iso(segment.created_at), body.get("received_at")),
        )
        if value != sealed
    ]


def _check_batch(ctx: VaultContext, item: Item, batch: Batch, report: Report) -> None:
    stored = stored_batch_objects(ctx, batch)
    if isinstance(stored, str):
        report.add("batch_objects", False, stored)
        return
    report.add("batch_objects", True, f"batch {batch.seq} objects match their pinned versions")
    tsa_roots = [r for t in ctx.tsas for r in t.roots]
    if item.path is None:
        path_obj: object = {"unreadable": "(items.path is NULL)"}
    else:
        try:
            path_obj = load_json(item.path, "items.path", binary=False)
        except InputError as e:
            path_obj = {"unreadable": f"({e})"}
    manifest = check_batch_proof(
        report,
        evidence_bytes=bytes(item.evidence or b""),
        path_obj=path_obj,
        batch_bytes=stored["batch.json"],
        seal=stored["seal.p7s"],
        tsr=stored["timestamp.tsr"],
        seal_roots=ctx.seal_roots,
        tsa_roots=tsa_roots,
        tsa_cert=None,
        self_operated_tsas=ctx.own_tsa_fingerprints,
    )
    gen_time = parse_iso(report.info["timestamp"]) if "timestamp" in report.info else None
    problems = batch_row_problems(batch, manifest, gen_time) if manifest else []
    with ctx.sessions() as s:
        items = s.scalar(select(func.count()).select_from(Item).where(Item.batch_seq == batch.seq))
    if manifest and items != manifest.get("items"):
        problems.append(
            f"the sealed batch.json counts {manifest.get('items')} items, the index holds {items} "
            "(rows deleted or moved)"
        )
    if manifest:
        report.add(
            "batch_record",
            not problems,
            f"the index's row of batch {batch.seq} agrees with its sealed batch.json"
            if not problems
            else f"the index's row of batch {batch.seq} differs from what is sealed: " + "; ".join(problems),
        )
    _check_chain(ctx, batch, manifest, report)


def _check_chain(ctx: VaultContext, batch: Batch, manifest: dict[str, Any], report: Report) -> None:
    if batch.seq == 1:
        ok = manifest.get("previous_root") == "00" * 32
        report.add(
            "chain",
            ok,
            "first batch of the chain" if ok else "chain broken: first batch names a previous root",
        )
        return
    try:
        with ctx.sessions() as s:
            prev = checked_row(s, Batch, check="chain", seq=batch.seq - 1)
    except IndexTampered as e:
        report.add("chain", False, f"chain broken: the index's row of batch {batch.seq - 1}: {e.finding}")
        return
    if prev is None:
        report.add("chain", False, f"chain broken: batch {batch.seq - 1} is missing from the index")
        return
    # compare with the previous batch as stored WORM, not as the index remembers it
    prev_objects = stored_batch_objects(ctx, prev)
    if isinstance(prev_objects, str):
        report.add("chain", False, f"chain broken: {prev_objects}")
        return
    try:
        prev_root = load_json(prev_objects["batch.json"], f"batch.json of batch {prev.seq}").get("root")
    except InputError as e:
        report.add("chain", False, f"chain broken: {e}")
        return
    ok = manifest.get("previous_root") == prev_root
    report.add(
        "chain",
        ok,
        f"follows batch {prev.seq} (root {prev_root})"
        if ok
        else f"chain broken: batch {prev.seq} root is {prev_root}, not {manifest.get('previous_root')}",
    )


def _check_disposal(ctx: VaultContext, item: Item, report: Report) -> None:
    """A destroyed item: no content to check, but its destruction record must exist, hash
    right, name this item and be sealed (or pending sealing)."""
    report.destroyed_rule = item.disposal_rule or item.disposal
    report.info["disposal"] = {
        "state": item.disposal,
        "at": item.disposed_at.isoformat() if item.disposed_at else None,
        "rule": item.disposal_rule,
        "record": item.disposal_record,
    }
    try:
        with ctx.sessions() as s:
            entry = (
                checked_row(s, JournalEntry, check="destruction_record", id=item.disposal_record)
                if item.disposal_record
                else None
            )
    except IndexTampered as e:
        report.add("destruction_record", False, e.finding)
        return
    if entry is None:
        report.add("destruction_record", False, f"no destruction record for {item.disposal} item {item.id}")
        return
    try:
        body = load_json(entry.body, "journal.body")
    except InputError as e:
        report.add("destruction_record", False, f"destruction record {entry.id}: {e}")
        return
    details = _obj(body, "details")
    listed = _list(details, "items")
    mine = [d for d in listed if isinstance(d, dict) and d.get("id") == item.id]
    named = names_destroyed(body, item.id)
    ok = hashlib.sha256(bytes(entry.body)).digest() == entry.leaf and named
    disagree = _disposal_differs(item, body, mine[0] if mine else None)
    where = "awaiting its batch"
    if ok and entry.batch_seq is not None:
        try:
            with ctx.sessions() as s:
                batch = checked_row(s, Batch, check="destruction_record", seq=entry.batch_seq)
        except IndexTampered:
            batch = None
        ok = batch is not None and path_problem(entry.leaf, entry.path, batch.root) is None
        where = f"sealed in batch {entry.batch_seq}" if ok else f"its path does not reach batch {entry.batch_seq}"
    report.add(
        "destruction_record",
        ok and not disagree,
        f"{body.get('action')} record {entry.id} at {body.get('at')} ({where})"
        if ok and not disagree
        else f"the index differs from destruction record {entry.id}: " + ", ".join(disagree)
        if ok
        else f"destruction record {entry.id} does not match its leaf, its batch, or does not name the item ({where})",
    )


def _disposal_differs(item: Item, body: dict[str, Any], listed: dict[str, Any] | None) -> list[str]:
    """Where the row's disposal columns say other than the sealed destruction record."""
    action = {"destroyed": "destroy", "erased": "subject_erase"}.get(str(item.disposal))
    found = []
    if body.get("action") != action:
        found.append(f"items.disposal {item.disposal!r} (the record is a {_r(body.get('action'))})")
    try:
        at = parse_iso(str(body.get("at")))
    except ValueError:
        at = None
    if item.disposed_at != at:
        found.append(
            f"items.disposed_at {iso(item.disposed_at) if item.disposed_at else None} (sealed {body.get('at')})"
        )
    if listed is not None and item.disposal_rule != listed.get("rule"):
        found.append(f"items.disposal_rule {item.disposal_rule!r} (sealed {_r(listed.get('rule'))})")
    if listed is None:
        from vault.privacy.erasure import ERASURE_RULE

        if item.disposal_rule != ERASURE_RULE:
            found.append(f"items.disposal_rule {item.disposal_rule!r} (an erasure's is {ERASURE_RULE!r})")
    return found


def _check_content(
    ctx: VaultContext, item: Item, pin: dict[str, Any], evidence: dict[str, Any], report: Report
) -> None:
    reader = PayloadRead(ctx, item)
    try:
        plaintext = reader.plaintext()
        salt = _content_salt(ctx, item, evidence, report) if is_salted(evidence) else None
        plain = hashlib.sha256() if CLIENT_FIELD in evidence else None
        check_payload(report, _tee(plaintext, plain), evidence, salt)
        _report_stored_bytes(report, reader.ciphertext_sha256, pin["ciphertext_sha256"])
        _check_disclosures(ctx, item, evidence, report)
        if plain is not None:
            _check_client_signature(ctx, item, evidence, plain.hexdigest(), report)
    except NotFound as e:
        report.add("object_version", False, f"object missing: {e}")
    except KeyError_ as e:  # includes DecryptionError
        report.add("decrypt", False, str(e))
        _check_ciphertext_only(ctx, item, pin["ciphertext_sha256"], report)
    except StorageError as e:
        report.add("object_version", False, f"object unreadable: {e}")


def _tee(chunks: Iterator[bytes], h: Any) -> Iterator[bytes]:
    for c in chunks:
        if h is not None:
            h.update(c)
        yield c


def _check_client_signature(
    ctx: VaultContext, item: Item, evidence: dict[str, Any], plain_sha256: str, report: Report
) -> None:
    """The device-signed statement sealed with the item (docs/decisions/0013)."""
    dek = None
    if is_sealed_statement(evidence):
        _key, dek = ctx.data_keys.by_id(item.subject_key_id)
    try:
        opened = open_statement(evidence, item_id=item.id, dek=dek)
    except (InputError, DecryptionError, ValueError) as e:
        report.add("client_signature", False, f"the sealed client statement does not open: {e}")
        return
    check_client_signature(report, opened, evidence, plain_sha256=None if _is_record(evidence) else plain_sha256)


def _content_salt(ctx: VaultContext, item: Item, evidence: dict[str, Any], report: Report) -> bytes | str:
    """A ``vault-evidence/2`` item's content salt, decrypted with its data key (check
    ``content_salt``); the reason when it cannot be."""
    _key, dek = ctx.data_keys.by_id(item.subject_key_id)
    if dek is None:
        return "the data key was destroyed"
    try:
        salt = open_salt(dek, item.id, evidence)
    except (InputError, DecryptionError) as e:
        report.add("content_salt", False, f"the sealed content salt does not open: {e}")
        return f"its content salt does not open ({e})"
    report.add("content_salt", True, f"the sealed content salt opens with the item's data key ({len(salt)} bytes)")
    return salt


def _check_disclosures(ctx: VaultContext, item: Item, evidence: dict[str, Any], report: Report) -> None:
    """A file's personal fields, kept sealed in the index: each opens its sealed commitment.
    (A record's are in its payload, checked with it.)"""
    from vault.privacy.commitments import check_disclosure

    meta_sealed = None if item.meta_sealed is None else bytes(item.meta_sealed)
    if _is_record(evidence):
        if meta_sealed is not None:
            report.add("disclosures", False, "items.meta_sealed is set on a record (its fields are in its payload)")
        return
    commitments = _obj(evidence, "commitments")
    try:
        if meta_sealed is None:
            raise InputError("items.meta_sealed is NULL")
        _key, dek = ctx.data_keys.by_id(item.subject_key_id)
        if dek is None:
            return
        encoded = parse_json(decrypt_bytes(dek, item.id.encode() + b"/meta", meta_sealed), "the sealed disclosures")
        if not isinstance(encoded, list):
            raise InputError("the sealed disclosures are not a list")
        names = {check_disclosure(e, commitments).name for e in encoded}
        if names != set(commitments):
            raise InputError("the sealed disclosures do not open every commitment")
    except (InputError, KeyError_) as e:
        report.add("disclosures", False, f"personal fields: {e}")
        return
    report.add("disclosures", True, f"{len(names)} sealed field(s) open their commitments")
