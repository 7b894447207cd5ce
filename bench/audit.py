"""How long does the completeness audit take, and does its memory stay flat?

    .venv/bin/python -m bench.audit [--records 100000]

Deposits N connection-metadata records (calls of 500), seals them in batches of 10,000, then
times `vault audit` against reading the same batch objects with raw boto3 (list + GET of every
batch file: the floor under any audit that reads the chain from the store), and reports the
audit's Python heap peak for N/5 and N items. Prints the extrapolation to a million items.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from typing import Any

from bench.common import bench_vault
from bench.run import machine, record
from vault.audit.completeness import audit
from vault.batch.sealer import seal_pending
from vault.context import VaultContext
from vault.ingest.common import validate
from vault.ingest.records import deposit_records


def _fill(ctx: VaultContext, n: int, start: int) -> None:
    req = validate(tenant="bench", session="s", kind="connection_metadata", subject="subj")
    objs = [record(i) for i in range(start, start + n)]
    for i in range(0, n, 500):
        deposit_records(ctx, [(req, r) for r in objs[i : i + 500]])
    seal_pending(ctx)


def _audit(ctx: VaultContext) -> tuple[float, int, Any]:
    """(seconds, Python heap peak, report): timed alone, then run again under tracemalloc
    (which slows allocation-heavy code several times, so it is not timed)."""
    t0 = time.perf_counter()
    report = audit(ctx)
    seconds = time.perf_counter() - t0
    assert report.ok, report.as_json()["problems"][:5]
    tracemalloc.start()
    audit(ctx)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    args = ap.parse_args()
    with bench_vault(batch_max_items=10_000) as bv:
        ctx = VaultContext.open(bv.settings, migrate_schema=True)
        ctx.store.ensure_bucket()
        small = args.records // 5
        _fill(ctx, small, 0)
        s_small, peak_small, _ = _audit(ctx)
        _fill(ctx, args.records - small, small)
        s_all, peak_all, report = _audit(ctx)
        s3: Any = bv.raw_client()
        t0 = time.perf_counter()
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=ctx.store.bucket, Prefix="batches/"):
            for v in page.get("Versions", []):
                s3.get_object(Bucket=ctx.store.bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
        raw = time.perf_counter() - t0
        ctx.close()
    items = report.sealed_items + report.sealed_entries
    out = {
        "machine": machine(),
        "items": report.sealed_items,
        "journal_entries": report.sealed_entries,
        "batches": report.batches,
        "audit_seconds": round(s_all, 2),
        "audit_leaves_per_s": round(items / s_all),
        "raw_read_of_batch_objects_seconds": round(raw, 2),
        "ratio_audit_vs_raw_read": round(s_all / raw, 2),
        "million_items_estimate_minutes": round(1_000_000 / (report.sealed_items / s_all) / 60, 1),
        "heap_peak_mib": {
            f"{small} items": round(peak_small / 2**20, 1),
            f"{args.records} items": round(peak_all / 2**20, 1),
        },
        "audit_seconds_small": round(s_small, 2),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
