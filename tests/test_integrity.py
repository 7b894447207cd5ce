"""Integrity against a real SeaweedFS: WORM refusals, back-door tampering, large payloads.

The filer port lets an insider delete or rewrite a locked version without any S3 check
(see shared notes); verification must notice, naming the check that failed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import update

from seaweed_support import filer_delete_version, filer_overwrite_version
from vault.batch.sealer import seal_pending
from vault.context import VaultContext
from vault.evidence.sealed import open_salt
from vault.index.models import Batch, Item, JournalEntry
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.proof.export import export_proof
from vault.verify.online import load_item, verify_item


def _deposit(ctx: VaultContext, data: bytes, kind: str = "session_log") -> str:
    req = validate(tenant="acme", session="s-1", kind=kind, subject="alice")
    return deposit_stream(ctx, io.BytesIO(data), req).item_id


def _failed(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {c.name: c.detail for c in report.checks if not c.ok}


class _Pattern(io.RawIOBase):
    """A 64 MiB+ payload generated on the fly: the deposit must stream it, never hold it."""

    def __init__(self, size: int) -> None:
        self.size, self.pos = size, 0
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = min(len(b), self.size - self.pos)
        block = (self.pos // 4096).to_bytes(8, "big") * 512
        chunk = (block * (n // len(block) + 1))[:n]
        b[:n] = chunk
        self.sha.update(chunk)
        self.pos += n
        return n


def test_large_payload_multipart_round_trip(ctx: VaultContext, tmp_path: Path) -> None:
    src = _Pattern(64 * 1024 * 1024 + 12345)
    req = validate(tenant="acme", session="big", kind="session_recording", subject="alice")
    item_id = deposit_stream(ctx, io.BufferedReader(src, 1024 * 1024), req).item_id  # type: ignore[arg-type]
    item, _ = load_item(ctx, item_id)
    head = ctx.store.client.head_object(Bucket=ctx.store.bucket, Key=item.object_key, VersionId=item.version_id)
    assert "-" in head["ETag"], "a 64 MiB payload must go up as a multipart upload"
    assert item.sha256 is None  # erasable: salted digests only (ADR 0010); verify_item checks them below
    seal_pending(ctx)
    assert verify_item(ctx, item_id).valid
    out = export_proof(ctx, item_id, tmp_path / "proof")
    h = hashlib.sha256()
    with open(out / "payload", "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    assert h.hexdigest() == src.sha.hexdigest()


def test_object_lock_refuses_deleting_a_sealed_version(ctx: VaultContext) -> None:
    item_id = _deposit(ctx, b"cannot delete me")
    seal_pending(ctx)
    item, _ = load_item(ctx, item_id)
    with pytest.raises(ClientError) as e:
        ctx.store.client.delete_object(Bucket=ctx.store.bucket, Key=item.object_key, VersionId=item.version_id)
    assert e.value.response["Error"]["Code"] in ("AccessDenied", "ObjectLocked", "InvalidRequest")
    # the version is still there and still verifies
    assert verify_item(ctx, item_id).valid


def test_version_deleted_through_filer_is_detected(ctx: VaultContext, seaweed) -> None:  # type: ignore[no-untyped-def]
    item_id = _deposit(ctx, b"evidence that an insider removes")
    seal_pending(ctx)
    item, _ = load_item(ctx, item_id)
    assert filer_delete_version(seaweed.filer_url, ctx.store.bucket, item.object_key, item.version_id) < 300
    report = verify_item(ctx, item_id)
    assert not report.valid
    assert "object missing" in _failed(report)["object_version"]


def test_version_overwritten_through_filer_is_detected(ctx: VaultContext, seaweed) -> None:  # type: ignore[no-untyped-def]
    item_id = _deposit(ctx, b"original bytes " * 100)
    seal_pending(ctx)
    item, _ = load_item(ctx, item_id)
    status = filer_overwrite_version(
        seaweed.filer_url, ctx.store.bucket, item.object_key, item.version_id, os.urandom(1500)
    )
    assert status < 300
    report = verify_item(ctx, item_id)
    assert not report.valid
    failed = _failed(report)
    assert "decrypt" in failed or "stored_bytes" in failed or "object_version" in failed, failed


def test_evidence_row_tampered_in_index_is_detected(ctx: VaultContext) -> None:
    item_id = _deposit(ctx, b"what the index says")
    seal_pending(ctx)
    item, _ = load_item(ctx, item_id)
    evidence = json.loads(item.evidence or b"")
    evidence["session"] = "another-session"
    with ctx.sessions() as s:
        s.execute(update(Item).where(Item.id == item_id).values(evidence=json.dumps(evidence).encode()))
        s.commit()
    report = verify_item(ctx, item_id)
    assert not report.valid
    assert "digest mismatch" in _failed(report)["evidence_leaf"]


def test_batch_chain_and_its_breakage(ctx: VaultContext, seaweed) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for i in range(3):  # three batches, chained
        ids.append(_deposit(ctx, f"item {i}".encode()))
        seal_pending(ctx)
    with ctx.sessions() as s:
        batches = s.query(Batch).order_by(Batch.seq).all()
    assert [b.seq for b in batches] == [1, 2, 3]
    assert batches[0].previous_root == "00" * 32
    assert batches[1].previous_root == batches[0].root and batches[2].previous_root == batches[1].root
    assert all(verify_item(ctx, i).valid for i in ids)

    # the stored batch manifest of batch 3 rewritten behind the vault's back
    b3 = batches[2]
    versions = json.loads(b3.versions)
    filer_overwrite_version(
        seaweed.filer_url, ctx.store.bucket, b3.object_prefix + "batch.json", versions["batch.json"], b"{}"
    )
    assert "batch_objects" in _failed(verify_item(ctx, ids[2]))

    # batch 1 removed from the index: batch 2 no longer links to anything
    with ctx.sessions() as s:
        s.execute(update(Item).where(Item.batch_seq == 1).values(batch_seq=None, state="stored"))
        s.execute(update(JournalEntry).where(JournalEntry.batch_seq == 1).values(batch_seq=None))
        s.query(Batch).filter(Batch.seq == 1).delete()
        s.commit()
    assert "chain broken" in _failed(verify_item(ctx, ids[1]))["chain"]


def test_proofs_can_be_rebuilt_from_object_storage_alone(ctx: VaultContext) -> None:
    """If the index were lost: evidence.json, receipts and the batch's leaves are WORM too."""
    from vault.evidence.canonical import canonical
    from vault.evidence.receipt import verify_receipt
    from vault.ingest.records import deposit_records
    from vault.tree.hashtree import build_tree

    file_id = _deposit(ctx, b"a document")
    req = validate(tenant="acme", session="s-1", kind="connection_metadata")
    rec_ids = [r.item_id for r in deposit_records(ctx, [(req, {"ip": f"192.0.2.{i}"}) for i in range(5)])]
    seal_pending(ctx)
    with ctx.sessions() as s:
        batch = s.query(Batch).one()
    leaves = json.loads(ctx.store.get(batch.object_prefix + "leaves.json", json.loads(batch.versions)["leaves.json"]))
    tree = build_tree([bytes.fromhex(h) for h in leaves["leaves"]])
    assert tree.root.hex() == batch.root and leaves["leaves"][0] == batch.previous_root

    for item_id in [file_id, *rec_ids]:
        item, _ = load_item(ctx, item_id)
        listed = ctx.store.client.list_object_versions(
            Bucket=ctx.store.bucket, Prefix=item.object_key + ".manifest.json"
        )
        [version] = listed["Versions"]
        stored = json.loads(ctx.store.get(item.object_key + ".manifest.json", version["VersionId"]))
        [entry] = [e for e in stored["items"] if e["id"] == item_id]
        evidence = entry["evidence"].encode()
        assert evidence == item.evidence == canonical(json.loads(evidence))  # exact bytes, canonical JSON
        assert hashlib.sha256(evidence).digest().hex() in leaves["leaves"]
        receipt = {"item": item_id, "evidence": __import__("base64").b64encode(evidence).decode(), "path": entry["path"],
                   **stored["receipt"]}  # fmt: skip
        assert verify_receipt(receipt, ctx.seal_roots)["id"] == item_id
        assert ("meta_sealed" in entry) == (item_id == file_id)


def test_evidence_received_after_its_timestamp_is_flagged(ctx: VaultContext) -> None:
    import datetime as dt

    from vault.clock import FixedClock

    ctx.clock = FixedClock(dt.datetime.now(dt.UTC) + dt.timedelta(days=400))  # a vault clock far ahead
    item_id = _deposit(ctx, b"from the future")
    seal_pending(ctx)  # the real TSA stamps it today
    report = verify_item(ctx, item_id)
    assert not report.valid
    assert "times inconsistent" in _failed(report)["timeline"]


@pytest.mark.parametrize("size_mib", [3, 9, 21])
def test_file_deposits_store_every_byte_single_or_multipart(ctx: VaultContext, tmp_path: Path, size_mib: int) -> None:
    """Real files (whose size is known up front) around the multipart threshold (8 MiB here)."""
    path = tmp_path / "payload.bin"
    data = os.urandom(size_mib * 1024 * 1024 + 7)
    path.write_bytes(data)
    req = validate(tenant="acme", session="files", kind="session_recording")
    with open(path, "rb") as f:
        item_id = deposit_stream(ctx, f, req).item_id
    item, _ = load_item(ctx, item_id)
    assert item.size == len(data) and item.sha256 is None  # erasable: salted digests only (ADR 0010)
    evidence = json.loads(item.evidence or b"{}")
    salt = open_salt(ctx.data_keys.by_id(item.subject_key_id)[1] or b"", item_id, evidence)
    assert hashlib.sha256(salt + data).hexdigest() == evidence["content"]["salted_sha256"]
    head = ctx.store.client.head_object(Bucket=ctx.store.bucket, Key=item.object_key, VersionId=item.version_id)
    assert ("-" in head["ETag"]) == (size_mib > 8)
    seal_pending(ctx)
    assert verify_item(ctx, item_id).valid
    out = export_proof(ctx, item_id, tmp_path / "proof")
    assert (out / "payload").read_bytes() == data
