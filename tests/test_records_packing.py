"""Small records share segment objects (group commit) and are still individually provable."""

from __future__ import annotations

import itertools
import json
import threading

from sqlalchemy import func, select

from vault.batch.sealer import seal_pending
from vault.context import VaultContext
from vault.evidence.manifest import parse_iso
from vault.index.models import Item, Segment
from vault.ingest.common import validate
from vault.ingest.records import RecordPacker, deposit_records
from vault.privacy.commitments import check_disclosure
from vault.proof.payload import PayloadRead
from vault.verify.online import load_item, verify_item


def _segment_objects(ctx: VaultContext) -> int:
    r = ctx.store.client.list_object_versions(Bucket=ctx.store.bucket, Prefix="t/")
    return len(
        [v for v in r.get("Versions", []) if "/segments/" in v["Key"] and not v["Key"].endswith(".manifest.json")]
    )


def test_one_call_with_many_records_is_one_put(ctx: VaultContext) -> None:
    req = validate(tenant="acme", session="s", kind="connection_metadata", subject="carol")
    recs = [
        {"ip": f"10.0.{i // 256}.{i % 256}", "port": 443, "device_id": f"dev-{i}", "user": "carol"} for i in range(500)
    ]
    receipts = deposit_records(ctx, [(req, r) for r in recs])
    assert len(receipts) == 500
    assert _segment_objects(ctx) == 1
    with ctx.sessions() as s:
        rows = s.execute(select(Item.object_key, Item.version_id, Item.offset, Item.length)).all()
    assert len({(r.object_key, r.version_id) for r in rows}) == 1
    offsets = sorted((r.offset, r.length) for r in rows)
    assert all(a[0] + a[1] == b[0] for a, b in itertools.pairwise(offsets))  # packed back to back

    seal_pending(ctx)
    item, _ = load_item(ctx, receipts[123].item_id)
    assert verify_item(ctx, item.id).valid
    # each field is committed alone and can be disclosed alone
    evidence = json.loads(item.evidence or b"")
    assert set(evidence["commitments"]) == {"ip", "port", "device_id", "user", "subject"}
    assert "10.0.0.123" not in (item.evidence or b"").decode()
    plaintext = json.loads(b"".join(PayloadRead(ctx, item).plaintext()))
    disclosed = {check_disclosure(d, evidence["commitments"]).name: check_disclosure(d, evidence["commitments"]).value
                 for d in plaintext["disclosures"]}  # fmt: skip
    assert disclosed["ip"] == "10.0.0.123" and disclosed["port"] == 443


def test_concurrent_calls_share_segment_writes(ctx: VaultContext) -> None:
    packer = RecordPacker(ctx)
    calls, per_call = 40, 5
    errors: list[BaseException] = []
    ids: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        req = validate(tenant="acme", session=f"s{n}", kind="connection_metadata", subject=f"u{n % 4}")
        try:
            got = packer.deposit([(req, {"ip": f"192.0.2.{n}", "seq": k}) for k in range(per_call)])
            with lock:
                ids.extend(r.item_id for r in got)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    packer.close()
    assert not errors
    assert len(set(ids)) == calls * per_call
    with ctx.sessions() as s:
        segments = s.scalar(select(func.count()).select_from(Segment))
        durable = s.scalar(select(func.count()).select_from(Item).where(Item.state == "stored"))
    assert durable == calls * per_call  # every acknowledged record is indexed and durable
    assert segments is not None and segments < calls, f"{segments} segments for {calls} concurrent calls"
    assert _segment_objects(ctx) == segments


def test_segments_split_by_tenant_and_retention_class(ctx: VaultContext) -> None:
    a = validate(tenant="acme", session="s", kind="connection_metadata")
    b = validate(tenant="globex", session="s", kind="connection_metadata")
    p = validate(tenant="acme", session="s", kind="connection_metadata", purpose="transaction_proof")
    receipts = deposit_records(ctx, [(a, {"ip": "1"}), (b, {"ip": "2"}), (p, {"ip": "3"}), (a, {"ip": "4"})])
    with ctx.sessions() as s:
        segs = s.scalars(select(Segment)).all()
    assert sorted((g.tenant_id, g.retention_class, g.records) for g in segs) == [
        ("acme", "operational", 2),
        ("acme", "proof", 1),
        ("globex", "operational", 1),
    ]
    proof_item, _ = load_item(ctx, receipts[2].item_id)
    op_item, _ = load_item(ctx, receipts[0].item_id)
    years = (proof_item.retain_until - proof_item.received_at).days / 365.25
    assert 14.9 < years < 15.1
    assert parse_iso(json.loads(op_item.evidence or b"")["storage"]["lock"]["retain_until"]) == op_item.retain_until
    head = ctx.store.client.head_object(
        Bucket=ctx.store.bucket, Key=proof_item.object_key, VersionId=proof_item.version_id
    )
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert abs((head["ObjectLockRetainUntilDate"] - proof_item.retain_until).total_seconds()) < 2


def test_one_receipt_seal_per_segment_with_inclusion_paths(ctx: VaultContext) -> None:
    from vault.evidence.receipt import verify_receipt

    req = validate(tenant="acme", session="s", kind="connection_metadata")
    receipts = deposit_records(ctx, [(req, {"ip": f"192.0.2.{i}"}) for i in range(9)])
    assert len({r.seal for r in receipts}) == 1 and len({r.body for r in receipts}) == 1
    for r in receipts:
        assert verify_receipt(r.as_json(), ctx.seal_roots)["id"] == r.item_id
    # a receipt moved onto another item's evidence does not verify
    swapped = dict(receipts[0].as_json(), evidence=receipts[1].as_json()["evidence"])
    import pytest

    from vault.errors import InputError

    with pytest.raises(InputError):
        verify_receipt(swapped, ctx.seal_roots)


def test_a_bad_record_fails_its_call_before_anything_is_written(ctx: VaultContext) -> None:
    from dataclasses import replace

    import pytest

    from vault.errors import InputError

    ctx.settings = replace(ctx.settings, segment_max_records=2)
    req = validate(tenant="acme", session="s", kind="connection_metadata")
    recs = [{"ip": f"192.0.2.{i}"} for i in range(4)] + [{"ip": float("nan")}]
    with pytest.raises(InputError, match="cannot be committed"):
        deposit_records(ctx, [(req, r) for r in recs])
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 0
    assert _segment_objects(ctx) == 0


def test_one_callers_bad_record_does_not_fail_another_caller(ctx: VaultContext) -> None:
    import pytest

    from vault.errors import InputError

    packer = RecordPacker(ctx)
    try:
        req = validate(tenant="acme", session="s", kind="connection_metadata")
        with pytest.raises(InputError):
            packer.submit([(req, {"ip": float("nan")})])
        good = packer.submit([(req, {"ip": "192.0.2.1"})])
        assert good[0].result(timeout=30).item_id
    finally:
        packer.close()


def test_segments_are_cut_by_size_too(ctx: VaultContext) -> None:
    from dataclasses import replace

    ctx.settings = replace(ctx.settings, segment_max_bytes=64 * 1024)
    req = validate(tenant="acme", session="s", kind="connection_metadata")
    receipts = deposit_records(ctx, [(req, {"blob": "x" * 4000, "n": i}) for i in range(40)])
    assert len(receipts) == 40
    with ctx.sessions() as s:
        sizes = s.scalars(select(Segment.size)).all()
    assert len(sizes) >= 3 and max(sizes) <= 64 * 1024 + 8 * 1024


def test_a_records_proof_folder_carries_its_rebuilt_receipt(ctx: VaultContext, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from vault.evidence.receipt import verify_receipt
    from vault.proof.export import export_proof
    from vault.verify.bundle import verify_bundle

    req = validate(tenant="acme", session="s", kind="connection_metadata", subject="zoe")
    receipts = deposit_records(ctx, [(req, {"ip": f"192.0.2.{i}", "port": 22}) for i in range(3)])
    seal_pending(ctx)
    out = export_proof(ctx, receipts[1].item_id, tmp_path / "p")
    stored = json.loads((out / "receipt.json").read_text())
    assert stored == receipts[1].as_json()
    assert verify_receipt(stored, ctx.seal_roots)["id"] == receipts[1].item_id
    assert verify_bundle(out).valid
