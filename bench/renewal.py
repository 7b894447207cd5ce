"""What archive-timestamp renewal costs (docs/long-term.md): tokens and seconds per run.

Deposits N connection records over B batches, then measures in one run:

- a **timestamp renewal** of every chain (``renew --force``): one tree over the B batch
  chains, one token, whatever N;
- a **hash-tree renewal** (SHA-256 marked weak): one leaf per item, one tree, one token;
- the baseline: one bare RFC 3161 request to the same TSA (the floor of any renewal).

Usage: python -m bench.renewal [--items N] [--batches B]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import replace

from bench.common import bench_vault
from vault.access.principal import SYSTEM
from vault.batch.sealer import seal_pending
from vault.context import VaultContext
from vault.renewal.run import renew
from vault.service.deposit import deposit_records
from vault.timestamp.client import stamp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--batches", type=int, default=20)
    args = ap.parse_args()
    per_batch = max(1, args.items // args.batches)
    with bench_vault() as bv:
        ctx = VaultContext.open(bv.settings, migrate_schema=True)
        ctx.store.ensure_bucket()
        try:
            t0 = time.perf_counter()
            done = 0
            while done < args.items:
                n = min(per_batch, args.items - done)
                recs = [{"ip": f"198.51.100.{i % 250}", "port": 5938, "event": "connect"} for i in range(n)]
                for start in range(0, n, 500):
                    deposit_records(ctx, SYSTEM, recs[start : start + 500], tenant="acme", session=f"s-{done}",
                                    subject=f"user-{done % 97}", create_tenant=True)  # fmt: skip
                seal_pending(ctx)
                done += n
            print(f"deposited and sealed {args.items} items in {time.perf_counter() - t0:.1f} s")

            t0 = time.perf_counter()
            for _ in range(5):
                stamp(ctx.tsas, b"\x00" * 32)
            bare = (time.perf_counter() - t0) / 5

            t0 = time.perf_counter()
            ts = renew(ctx, force=True)
            ts_s = time.perf_counter() - t0
            tokens_ts = len(ts.timestamp_renewals)
            leaves_ts = sum(r["leaves"] for r in ts.timestamp_renewals)

            weak = VaultContext.open(replace(bv.settings, weak_algorithms=(("sha256", dt.datetime.now(dt.UTC)),)))
            try:
                t0 = time.perf_counter()
                hs = renew(weak)
                hs_s = time.perf_counter() - t0
            finally:
                weak.close()
            tokens_h = len(hs.hash_renewals) + len(hs.timestamp_renewals)
            leaves_h = sum(r["leaves"] for r in hs.hash_renewals)
        finally:
            ctx.close()
    print(f"{'run':<28}{'tokens':>8}{'leaves':>9}{'seconds':>10}{'x one bare token':>18}")
    print(f"{'bare RFC 3161 request':<28}{1:>8}{'-':>9}{bare:>10.3f}{1:>18.1f}")
    print(f"{'timestamp renewal (all)':<28}{tokens_ts:>8}{leaves_ts:>9}{ts_s:>10.3f}{ts_s / bare:>18.1f}")
    print(f"{'hash-tree renewal (sha512)':<28}{tokens_h:>8}{leaves_h:>9}{hs_s:>10.3f}{hs_s / bare:>18.1f}")
    print(f"hash-tree renewal: {args.items / hs_s:,.0f} items/s")


if __name__ == "__main__":
    main()
