"""A 1 GiB tus upload killed at ~50 % and resumed: memory of the server and of the client, bytes
the server read (nothing sent twice), time, and the item verified.

    .venv/bin/python -m bench.tus_resume [--mib 1024] [--chunk-mib 32] [--database-url URL]

Starts a real ``vault up`` in a temporary home (``bench.http_ingest.VaultUp``); generates a
file of random bytes; runs the tuspy client in its own process (``chunk_size`` per PATCH), polls
``HEAD`` and SIGKILLs the client once the server holds half the file (in the middle of a PATCH);
starts a second client process that asks the server for the offset (``HEAD``) and completes.
Samples ``VmRSS`` of the server and of each client every 100 ms (``bench.upload_memory``), and
reads the server's per-upload counters (``Vault-Upload-Received``, ``Vault-Upload-Discarded``)
and ``/metrics``. Then waits for the item to be sealed and verifies it through the API.
Not part of the test suite (tests/test_tus_uploads.py runs the same scenario with 64 MiB);
results also go to ``bench/results/tus-resume-<time>.json`` (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.http_ingest import VaultUp
from bench.run import machine
from bench.upload_memory import RssSampler, make_file, mib

TUS = {"Tus-Resumable": "1.0.0"}
CLIENT = """
import sys
from tusclient.client import TusClient
endpoint, key, path, chunk, url = sys.argv[1:6]
c = TusClient(endpoint, headers={"Authorization": "Bearer " + key})
u = c.uploader(path, chunk_size=int(chunk), url=url or None,
               metadata={"session": "big", "kind": "session_recording", "subject": "subj", "sha256": sys.argv[6]})
if not url:
    u.set_url(u.create_url())
print(u.url, u.offset, flush=True)
u.upload()
print(u.request.response_headers["evidence-id"], flush=True)
"""


def client(vault: VaultUp, key: str, path: Path, chunk: int, sha: str, url: str = "") -> subprocess.Popen[str]:
    args = [sys.executable, "-c", CLIENT, f"{vault.url}/v1/uploads", key, str(path), str(chunk), url, sha]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=1024, help="size of the payload in MiB (default 1 GiB)")
    ap.add_argument("--chunk-mib", type=int, default=32, help="bytes per PATCH (tuspy's chunk_size)")
    ap.add_argument("--database-url", default=os.environ.get("VAULT_BENCH_DATABASE_URL"), help="PostgreSQL URL")
    args = ap.parse_args()
    size = args.mib * 1024 * 1024
    results: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "payload_mib": args.mib,
        "chunk_mib": args.chunk_mib,
        "index": "postgresql" if args.database_url else "sqlite",
    }
    with VaultUp(database_url=args.database_url) as vault:
        vault.cli("tenant", "create", "bench")
        key = vault.key("technician", "bench")
        big = vault.work / "payload.bin"
        sha = make_file(big, args.mib)
        with httpx.Client(base_url=vault.url, headers={"Authorization": f"Bearer {key}"}, timeout=600) as c:
            server = RssSampler(vault.pid).start()
            time.sleep(3)
            baseline = statistics.median(server.between(0, time.monotonic()))
            t0 = time.monotonic()
            first = client(vault, key, big, args.chunk_mib * 1024 * 1024, sha)
            first_rss = RssSampler(first.pid).start()
            assert first.stdout is not None
            url = first.stdout.readline().split()[0]
            while True:
                held = int(c.head(url, headers=TUS).headers["upload-offset"])
                if held >= size // 2:
                    break
                time.sleep(0.02)
            time.sleep(0.2)  # into the next PATCH
            first.kill()
            first.wait()
            first_rss.stop()
            t_kill = time.monotonic()
            time.sleep(1)
            h = c.head(url, headers=TUS)
            at_kill = {k: int(h.headers[k]) for k in ("upload-offset", "vault-upload-received")}
            second = client(vault, key, big, args.chunk_mib * 1024 * 1024, sha, url)
            second_rss = RssSampler(second.pid).start()
            assert second.stdout is not None
            resumed_from = int(second.stdout.readline().split()[1])
            item = second.stdout.readline().strip()
            second.wait()
            second_rss.stop()
            t1 = time.monotonic()
            time.sleep(1)
            hwm = server.status("VmHWM")
            server.stop()
            h = c.head(url, headers=TUS)
            metrics = {
                line.split()[0]: float(line.split()[1])
                for line in c.get("/metrics").text.splitlines()
                if line.startswith("vault_upload_bytes_")
            }
            status = None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                r = c.post("/v1/verify", json={"evidence_id": item})
                status = r.json().get("status")
                if status == "valid":
                    break
                time.sleep(1)
        results.update(
            {
                "item": item,
                "verify": status,
                "seconds_total": t1 - t0,
                "MiB_per_s_overall": args.mib / (t1 - t0),
                "killed_after_s": t_kill - t0,
                "offset_at_kill": at_kill["upload-offset"],
                "resumed_from": resumed_from,
                "server_bytes_received": int(h.headers["vault-upload-received"]),
                "server_bytes_discarded": int(h.headers["vault-upload-discarded"]),
                "metrics": metrics,
                "server_baseline_rss_mib": mib(baseline),
                "server_peak_rss_mib": mib(max(v for _t, v in server.samples)),
                "server_vmhwm_mib": mib(hwm),
                "client1_peak_rss_mib": mib(max((v for _t, v in first_rss.samples), default=0)),
                "client2_peak_rss_mib": mib(max((v for _t, v in second_rss.samples), default=0)),
            }
        )
        assert results["server_bytes_received"] == size, "bytes were sent twice (or lost)"
    out = Path(__file__).parent / "results" / f"tus-resume-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
