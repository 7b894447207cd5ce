"""Online verification: re-read the pinned version from object storage and check everything.

Storage is not trusted (an operator can bypass WORM through a back door); this re-derives
every digest from the bytes actually stored, then checks path, seal, token and chain.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select

from vault.context import VaultContext
from vault.errors import KeyError_, NotFound, StorageError
from vault.index.models import Batch, Item, JournalEntry
from vault.journal.entry import path_problem
from vault.proof.payload import PayloadRead
from vault.verify.proof_checks import check_batch_proof, check_payload
from vault.verify.report import Report


def load_item(ctx: VaultContext, item_id: str) -> tuple[Item, Batch | None]:
    with ctx.sessions() as s:
        item = s.scalars(select(Item).where(Item.id == item_id)).first()
        if item is None:
            raise NotFound("no such item", detail=item_id)
        batch = s.get(Batch, item.batch_seq) if item.batch_seq else None
        return item, batch


def stored_batch_objects(ctx: VaultContext, batch: Batch) -> dict[str, bytes] | str:
    """The batch files as stored WORM (pinned versions); a reason string when they differ."""
    versions: dict[str, str] = json.loads(batch.versions)
    out: dict[str, bytes] = {}
    for name, expected in (
        ("batch.json", batch.manifest),
        ("seal.p7s", batch.seal),
        ("timestamp.tsr", batch.tsr),
    ):
        try:
            data = ctx.store.get(batch.object_prefix + name, versions[name])
        except (NotFound, StorageError) as e:
            return f"object missing: {name} of batch {batch.seq}: {e}"
        if data != expected:
            return f"digest mismatch: stored {name} of batch {batch.seq} differs from the index copy"
        out[name] = data
    return out


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


def verify_item(ctx: VaultContext, item_id: str) -> Report:
    item, batch = load_item(ctx, item_id)
    report = Report(item_id)
    if item.state in ("writing", "orphaned") or item.evidence is None:
        report.add("index_record", False, f"item is {item.state}: never acknowledged, not evidence")
        return report
    report.add("index_record", True, f"{item.kind} of tenant {item.tenant_id}, {item.state}")
    report.info["tenant"] = item.tenant_id
    evidence: dict[str, Any] = json.loads(item.evidence)
    pin = evidence["storage"]
    report.add(
        "storage_pin",
        pin["version_id"] == item.version_id and pin["key"] == item.object_key and pin["offset"] == item.offset,
        f"{pin['bucket']}/{pin['key']} version {pin['version_id']}",
    )

    if item.disposal in ("erased", "destroyed"):
        _check_disposal(ctx, item, report)
    else:
        _check_content(ctx, item, pin, evidence, report)

    if batch is None and item.state == "sealed":
        report.add("batch_objects", False, f"chain broken: item is sealed in batch {item.batch_seq}, which is missing")
        return report
    if batch is None:
        report.pending = True
        report.add("sealed", True, "deposited and durable; not yet sealed (run `vault seal`)")
        return report

    stored = stored_batch_objects(ctx, batch)
    if isinstance(stored, str):
        report.add("batch_objects", False, stored)
        return report
    report.add("batch_objects", True, f"batch {batch.seq} objects match their pinned versions")
    tsa_roots = [r for t in ctx.tsas for r in t.roots]
    assert item.path is not None
    manifest = check_batch_proof(
        report,
        evidence_bytes=item.evidence,
        path_obj=json.loads(item.path),
        batch_bytes=stored["batch.json"],
        seal=stored["seal.p7s"],
        tsr=stored["timestamp.tsr"],
        seal_roots=ctx.seal_roots,
        tsa_roots=tsa_roots,
        tsa_cert=None,
    )
    with ctx.sessions() as s:
        prev = s.get(Batch, batch.seq - 1) if batch.seq > 1 else None
    if batch.seq == 1:
        ok = manifest.get("previous_root") == "00" * 32
        report.add(
            "chain",
            ok,
            "first batch of the chain" if ok else "chain broken: first batch names a previous root",
        )
    elif prev is None:
        report.add("chain", False, f"chain broken: batch {batch.seq - 1} is missing from the index")
    else:
        # compare with the previous batch as stored WORM, not as the index remembers it
        prev_objects = stored_batch_objects(ctx, prev)
        if isinstance(prev_objects, str):
            report.add("chain", False, f"chain broken: {prev_objects}")
        else:
            prev_root = json.loads(prev_objects["batch.json"]).get("root")
            ok = manifest.get("previous_root") == prev_root
            report.add(
                "chain",
                ok,
                f"follows batch {prev.seq} (root {prev_root})"
                if ok
                else f"chain broken: batch {prev.seq} root is {prev_root}, not {manifest.get('previous_root')}",
            )
    return report


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
    with ctx.sessions() as s:
        entry = (
            s.scalars(select(JournalEntry).where(JournalEntry.id == item.disposal_record)).first()
            if item.disposal_record
            else None
        )
    if entry is None:
        report.add("destruction_record", False, f"no destruction record for {item.disposal} item {item.id}")
        return
    body = json.loads(entry.body)
    details = body.get("details", {})
    named = item.id in {i.get("id") for i in details.get("items", [])} or item.id in details.get("erased", [])
    ok = hashlib.sha256(entry.body).digest() == entry.leaf and named
    where = "awaiting its batch"
    if ok and entry.batch_seq is not None:
        with ctx.sessions() as s:
            batch = s.get(Batch, entry.batch_seq)
        ok = batch is not None and path_problem(entry.leaf, entry.path, batch.root) is None
        where = f"sealed in batch {entry.batch_seq}" if ok else f"its path does not reach batch {entry.batch_seq}"
    report.add(
        "destruction_record",
        ok,
        f"{body.get('action')} record {entry.id} at {body.get('at')} ({where})"
        if ok
        else f"destruction record {entry.id} does not match its leaf, its batch, or does not name the item ({where})",
    )


def _check_content(
    ctx: VaultContext, item: Item, pin: dict[str, Any], evidence: dict[str, Any], report: Report
) -> None:
    reader = PayloadRead(ctx, item)
    try:
        plaintext = reader.plaintext()
        check_payload(report, plaintext, evidence)
        _report_stored_bytes(report, reader.ciphertext_sha256, pin["ciphertext_sha256"])
    except NotFound as e:
        report.add("object_version", False, f"object missing: {e}")
    except KeyError_ as e:  # includes DecryptionError
        report.add("decrypt", False, str(e))
        _check_ciphertext_only(ctx, item, pin["ciphertext_sha256"], report)
    except StorageError as e:
        report.add("object_version", False, f"object unreadable: {e}")
