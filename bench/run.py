"""Benchmarks of the vault against raw boto3 on the same embedded SeaweedFS, in one run.

    make bench            # or: .venv/bin/python -m bench.run [--records 10000] [--mib 256]

(a) N connection-metadata records (~1 KiB each) deposited through the vault (packed into
    segments, group commit, signed receipts, index rows) vs. one raw boto3 put_object each;
(b) one large payload through the vault (streamed, hashed twice, encrypted, multipart with
    checksums and Object Lock) vs. raw boto3 upload_file of the same file;
plus the vault's hashing vs. `openssl dgst`. Prints ratios; not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from bench.common import bench_vault
from vault.batch.sealer import seal_pending
from vault.config import Settings
from vault.context import VaultContext
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.ingest.records import RecordPacker, deposit_records

MiB = 1024 * 1024


def record(i: int) -> dict[str, Any]:
    """A connection event of about 1 KiB, shaped like the seeds' connection metadata."""
    return {
        "ip": f"198.51.{(i >> 8) & 255}.{i & 255}",
        "port": 40000 + i % 20000,
        "device_id": f"PC-{i:08d}",
        "user": f"user{i % 997}@customer.example",
        "geo": {"country": "FR", "city": "Lyon"},
        "event": "session_start",
        "client": "RemoteAssist 12.4.1 (Windows 11 23H2)",
        "execution": "x" * 760,
    }


def _warm(settings: Settings) -> None:
    VaultContext.open(settings).close()


def _worker_deposit(job: tuple[Settings, int]) -> None:
    """One worker process: its own context, depositing its share in calls of 500."""
    settings, n = job
    ctx = VaultContext.open(settings)
    req = validate(tenant="bench", session="w", kind="connection_metadata", subject="subj")
    objs = [record(i) for i in range(n)]
    for i in range(0, n, 500):
        deposit_records(ctx, [(req, r) for r in objs[i : i + 500]])
    ctx.close()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--threads", type=int, default=32, help="concurrent single-record callers (and raw PUT threads)")
    args = ap.parse_args()

    results: dict[str, Any] = {"machine": machine(), "records": args.records, "payload_mib": args.mib}
    with bench_vault() as bv:
        work, settings, sw, secret = bv.work, bv.settings, bv.seaweed, bv.seaweed.secret_key
        ctx = VaultContext.open(settings, migrate_schema=True)
        ctx.store.ensure_bucket()
        # the baseline is boto3 as it comes (default client configuration), as a developer
        # storing the same bytes without the vault would use it
        s3 = boto3.client(
            "s3",
            endpoint_url=sw.s3_endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(max_pool_connections=max(10, args.threads)),
        )
        s3.create_bucket(Bucket="bench-raw")
        recs = [json.dumps(record(i)).encode() for i in range(args.records)]
        results["record_bytes"] = sum(map(len, recs)) // len(recs)

        # (a) raw: one PUT per record, 1 thread and N threads
        raw1, _ = timed(lambda: [s3.put_object(Bucket="bench-raw", Key=f"r1/{i}", Body=b) for i, b in enumerate(recs)])

        def raw_threaded() -> None:
            with ThreadPoolExecutor(args.threads) as pool:
                list(
                    pool.map(
                        lambda ib: s3.put_object(Bucket="bench-raw", Key=f"rn/{ib[0]}", Body=ib[1]), enumerate(recs)
                    )
                )

        rawn, _ = timed(raw_threaded)

        # (a) vault: N concurrent callers, one record per call (group commit)
        packer = RecordPacker(ctx)
        req = validate(tenant="bench", session="s", kind="connection_metadata", subject="subj")
        objs = [record(i) for i in range(args.records)]
        it = iter(objs)
        lock = threading.Lock()

        def caller() -> None:
            while True:
                with lock:
                    r = next(it, None)
                if r is None:
                    return
                packer.deposit([(req, r)])

        def vault_concurrent() -> None:
            threads = [threading.Thread(target=caller) for _ in range(args.threads)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        vconc, _ = timed(vault_concurrent)
        packer.close()
        # (a) vault: calls carrying 500 records each
        vbatch, _ = timed(
            lambda: [deposit_records(ctx, [(req, r) for r in objs[i : i + 500]]) for i in range(0, len(objs), 500)]
        )
        # (a) vault: two worker processes (as two API workers would be), calls of 500 each
        workers = 2
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_warm, [settings] * workers))  # imports and connections, not timed
            vproc, _ = timed(lambda: list(pool.map(_worker_deposit, [(settings, args.records // workers)] * workers)))
        seal_t, batches = timed(lambda: seal_pending(ctx))

        results["a"] = {
            "raw_put_1_thread_per_s": args.records / raw1,
            f"raw_put_{args.threads}_threads_per_s": args.records / rawn,
            f"vault_{args.threads}_concurrent_single_record_calls_per_s": args.records / vconc,
            "vault_calls_of_500_per_s": args.records / vbatch,
            "seal_seconds_for_all": seal_t,
            "batches": len(batches),
            "ratio_concurrent_vs_raw_1_thread": (args.records / vconc) / (args.records / raw1),
            "ratio_calls_of_500_vs_raw_1_thread": (args.records / vbatch) / (args.records / raw1),
            "vault_2_processes_calls_of_500_per_s": args.records / vproc,
            "ratio_2_processes_vs_raw_1_thread": (args.records / vproc) / (args.records / raw1),
            f"ratio_concurrent_vs_raw_{args.threads}_threads": (args.records / vconc) / (args.records / rawn),
        }

        # (b) one large payload
        big = work / "payload.bin"
        with open(big, "wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(MiB))
        raw_up, _ = timed(lambda: s3.upload_file(str(big), "bench-raw", "big", Config=TransferConfig()))
        # and with the vault's own client settings (no second payload hash): a stricter baseline
        raw_tuned, _ = timed(
            lambda: ctx.store.client.upload_file(str(big), "bench-raw", "big2", Config=TransferConfig())
        )
        dreq = validate(tenant="bench", session="s", kind="session_recording", subject="subj")

        def vault_up() -> None:
            with open(big, "rb") as f:
                deposit_stream(ctx, f, dreq)

        vault_up_t, _ = timed(vault_up)
        ossl_sha256, _ = timed(
            lambda: subprocess.run(["openssl", "dgst", "-sha256", str(big)], check=True, capture_output=True)
        )
        ossl_sha3, _ = timed(
            lambda: subprocess.run(["openssl", "dgst", "-sha3-256", str(big)], check=True, capture_output=True)
        )

        def vault_hash() -> None:
            import hashlib

            h1, h2 = hashlib.sha256(), hashlib.sha3_256()
            with open(big, "rb") as f:
                while chunk := f.read(MiB):
                    h1.update(chunk)
                    h2.update(chunk)

        vh, _ = timed(vault_hash)
        results["b"] = {
            "raw_upload_file_s": raw_up,
            "vault_deposit_s": vault_up_t,
            "raw_MiB_per_s": args.mib / raw_up,
            "vault_MiB_per_s": args.mib / vault_up_t,
            "ratio_vault_vs_raw": raw_up / vault_up_t,
            "raw_upload_file_vault_client_s": raw_tuned,
            "ratio_vault_vs_raw_vault_client": raw_tuned / vault_up_t,
            "openssl_sha256_plus_sha3_s": ossl_sha256 + ossl_sha3,
            "python_sha256_plus_sha3_s": vh,
            "ratio_hashing_vs_openssl": (ossl_sha256 + ossl_sha3) / vh,
        }
        ctx.close()

    print(json.dumps(results, indent=2))
    a, b = results["a"], results["b"]
    print()
    print(
        f"(a) {args.records} records: vault {a[f'vault_{args.threads}_concurrent_single_record_calls_per_s']:.0f}/s "
        f"({args.threads} concurrent callers), {a['vault_calls_of_500_per_s']:.0f}/s (calls of 500); "
        f"raw PUT {a['raw_put_1_thread_per_s']:.0f}/s (1 thread), {a[f'raw_put_{args.threads}_threads_per_s']:.0f}/s "
        f"({args.threads} threads)"
    )
    print(
        f"    ratio vs raw 1-thread: {a['ratio_concurrent_vs_raw_1_thread']:.1f}x (concurrent), "
        f"{a['ratio_calls_of_500_vs_raw_1_thread']:.1f}x (calls of 500), "
        f"{a['ratio_2_processes_vs_raw_1_thread']:.1f}x (2 worker processes, calls of 500)   target >= 10x"
    )
    print(
        f"(b) {args.mib} MiB: vault {b['vault_deposit_s']:.2f} s, raw upload_file {b['raw_upload_file_s']:.2f} s, "
        f"ratio {b['ratio_vault_vs_raw']:.2f}x   target >= 0.8x"
    )
    print(
        f"    raw upload_file with the vault's client settings {b['raw_upload_file_vault_client_s']:.2f} s, "
        f"ratio {b['ratio_vault_vs_raw_vault_client']:.2f}x"
    )
    print(
        f"    hashing sha256+sha3-256: python {b['python_sha256_plus_sha3_s']:.2f} s vs openssl "
        f"{b['openssl_sha256_plus_sha3_s']:.2f} s ({b['ratio_hashing_vs_openssl']:.2f}x)"
    )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results, indent=2))
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
