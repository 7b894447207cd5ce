"""Deposit → seal → verify on the real embedded SeaweedFS and the built-in TSA."""

from __future__ import annotations

import io
import os

from vault.batch.sealer import seal_pending
from vault.context import VaultContext
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.ingest.records import deposit_records
from vault.verify.online import verify_item


def test_small_file_round_trip(ctx: VaultContext) -> None:
    payload = b"session log line 1\nline 2\n"
    req = validate(tenant="acme", session="s-1", kind="session_log", subject="alice", meta={"ip": "192.0.2.7"})
    receipt = deposit_stream(ctx, io.BytesIO(payload), req)
    pending = verify_item(ctx, receipt.item_id)
    assert pending.status == "pending" and not pending.valid
    batches = seal_pending(ctx)
    assert len(batches) == 1 and batches[0].items == 1
    report = verify_item(ctx, receipt.item_id)
    assert report.valid, report.as_json()
    names = [c.name for c in report.checks]
    assert {"payload_digest", "stored_bytes", "path_to_root", "seal", "timestamp", "chain"} <= set(names)


def test_records_round_trip(ctx: VaultContext) -> None:
    req = validate(tenant="acme", session="s-2", kind="connection_metadata", subject="bob")
    recs = [{"ip": f"198.51.100.{i}", "port": 5900 + i, "device": f"d{i}"} for i in range(50)]
    receipts = deposit_records(ctx, [(req, r) for r in recs])
    assert len({r.item_id for r in receipts}) == 50
    seal_pending(ctx)
    for r in receipts[:5]:
        assert verify_item(ctx, r.item_id).valid


def test_random_payload_sizes(ctx: VaultContext) -> None:
    req = validate(tenant="acme", session="s-3", kind="signed_document")
    ids = []
    for size in (0, 1, 1024 * 1024, 1024 * 1024 + 1):
        data = os.urandom(size)
        ids.append(deposit_stream(ctx, io.BytesIO(data), req).item_id)
    seal_pending(ctx)
    for i in ids:
        assert verify_item(ctx, i).valid
