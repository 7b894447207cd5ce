"""Does a 1 GiB upload through the HTTP API keep the server's memory flat? And how fast is it
against raw boto3 on the same SeaweedFS?

    .venv/bin/python -m bench.upload_memory [--mib 1024] [--no-read-back]

Starts a real ``vault up`` in a temporary home, in its own process (``bench.http_ingest.VaultUp``),
so that the resident memory sampled is the server's alone (API, deposit pipeline, batcher;
SeaweedFS is a separate process, not counted). Generates a file of random bytes (not kept),
then:

1. samples the server's ``VmRSS`` (``/proc/PID/status``) every 100 ms, and its ``VmHWM``
   (the kernel's high-water mark, which also catches a peak between two samples);
2. streams the file through ``POST /v1/evidence`` (``kind=session_recording``, with its
   ``X-Content-SHA256``) from a generator, 1 MiB at a time, with a ``Content-Length``;
3. uploads the same file with raw boto3 ``upload_file`` (default client and ``TransferConfig``)
   to another bucket of the same SeaweedFS;
4. unless ``--no-read-back``: streams it back through ``GET /v1/evidence/{id}/content``.

Reports the baseline RSS, the peak during each transfer, the throughputs and the ratio
vault / raw. Not part of the test suite; results also go to
``bench/results/upload-memory-<time>.json`` (ignored by git).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from boto3.s3.transfer import TransferConfig

from bench.http_ingest import VaultUp
from bench.run import machine

MiB = 1024 * 1024


class RssSampler:
    """``VmRSS`` of one process every ``interval`` seconds, in a thread."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []  # (monotonic time, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def status(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
        raise KeyError(field)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.status("VmRSS")))
            self._stop.wait(self.interval)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, t0: float, t1: float) -> list[int]:
        return [rss for t, rss in self.samples if t0 <= t <= t1]


def make_file(path: Path, mib: int) -> str:
    """``mib`` MiB of random bytes; returns their SHA-256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(mib):
            chunk = os.urandom(MiB)
            h.update(chunk)
            f.write(chunk)
    return h.hexdigest()


def multipart_stream(fields: dict[str, str], path: Path) -> tuple[Iterator[bytes], int, str]:
    """(body chunks, total length, content type): the fields, then the file streamed from disk."""
    boundary = secrets.token_hex(16)
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size

    def chunks() -> Iterator[bytes]:
        yield head
        with open(path, "rb") as f:
            while chunk := f.read(MiB):
                yield chunk
        yield tail

    return chunks(), len(head) + size + len(tail), f"multipart/form-data; boundary={boundary}"


def mib(n: float) -> float:
    return n / MiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=1024, help="size of the payload in MiB (default 1 GiB)")
    ap.add_argument("--no-read-back", action="store_true", help="skip the download through the API")
    ap.add_argument("--database-url", default=os.environ.get("VAULT_BENCH_DATABASE_URL"), help="PostgreSQL URL")
    args = ap.parse_args()

    results: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "payload_mib": args.mib,
        "index": "postgresql" if args.database_url else "sqlite",
        "load_average_at_start": os.getloadavg(),
    }
    with VaultUp(database_url=args.database_url) as vault:
        vault.cli("tenant", "create", "bench")
        key = vault.key("technician", "bench")
        big = vault.work / "payload.bin"
        sha = make_file(big, args.mib)
        s3 = vault.s3()
        s3.create_bucket(Bucket="bench-raw")
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=vault.url, headers=auth, timeout=600) as c:
            # warm-up (imports, the subject's data key, the connection), not measured
            r = c.post(
                "/v1/evidence",
                data={"session": "warm", "kind": "session_recording", "subject": "subj"},
                files={"file": ("w.bin", os.urandom(64 * 1024))},
            )
            assert r.status_code == 201, r.text
            sampler = RssSampler(vault.pid).start()
            time.sleep(3)  # resting memory
            hwm_before = sampler.status("VmHWM")
            t_rest = time.monotonic()

            body, length, ctype = multipart_stream(
                {"session": "big", "kind": "session_recording", "subject": "subj"}, big
            )
            t0 = time.monotonic()
            r = c.post(
                "/v1/evidence",
                content=body,
                headers={"Content-Type": ctype, "Content-Length": str(length), "X-Content-SHA256": sha},
            )
            t1 = time.monotonic()
            assert r.status_code == 201, r.text
            item = r.json()["id"]
            time.sleep(2)  # does the memory come back down?
            hwm_after_upload = sampler.status("VmHWM")
            t_after = time.monotonic()

            t2 = time.monotonic()
            s3.upload_file(str(big), "bench-raw", "big", Config=TransferConfig())
            t3 = time.monotonic()

            read: dict[str, Any] = {}
            if not args.no_read_back:
                h = hashlib.sha256()
                t4 = time.monotonic()
                with c.stream("GET", f"/v1/evidence/{item}/content") as resp:
                    assert resp.status_code == 200, resp.read()
                    for chunk in resp.iter_bytes(MiB):
                        h.update(chunk)
                t5 = time.monotonic()
                assert h.hexdigest() == sha, "the content read back is not the payload"
                during = sampler.between(t4, t5)
                read = {
                    "seconds": t5 - t4,
                    "MiB_per_s": args.mib / (t5 - t4),
                    "peak_rss_mib": mib(max(during)),
                    "vmhwm_after_mib": mib(sampler.status("VmHWM")),
                }
            sampler.stop()

        rest = sampler.between(t_rest - 3, t_rest)
        during = sampler.between(t0, t1)
        after = sampler.between(t1 + 0.5, t_after)
        baseline = statistics.median(rest)
        results["upload"] = {
            "item": item,
            "seconds": t1 - t0,
            "MiB_per_s": args.mib / (t1 - t0),
            "samples": len(during),
            "baseline_rss_mib": mib(baseline),
            "peak_rss_mib": mib(max(during)),
            "peak_minus_baseline_mib": mib(max(during) - baseline),
            "median_rss_during_mib": mib(statistics.median(during)),
            "rss_after_mib": mib(statistics.median(after)) if after else None,
            "vmhwm_before_mib": mib(hwm_before),
            "vmhwm_after_mib": mib(hwm_after_upload),
        }
        results["raw_upload_file"] = {"seconds": t3 - t2, "MiB_per_s": args.mib / (t3 - t2)}
        results["ratio_vault_vs_raw"] = (t3 - t2) / (t1 - t0)
        if read:
            results["read_back"] = read
        results["rss_timeline_mib"] = [
            [round(t - t0, 1), round(mib(rss), 1)] for t, rss in sampler.samples if t_rest - 3 <= t <= t_after
        ]
        results["load_average_at_end"] = os.getloadavg()

    u = results["upload"]
    print(json.dumps({k: v for k, v in results.items() if k != "rss_timeline_mib"}, indent=2))
    print()
    print(
        f"{args.mib} MiB through POST /v1/evidence: {u['seconds']:.1f} s ({u['MiB_per_s']:.0f} MiB/s); server RSS "
        f"baseline {u['baseline_rss_mib']:.0f} MiB, peak {u['peak_rss_mib']:.0f} MiB "
        f"(+{u['peak_minus_baseline_mib']:.0f} MiB; VmHWM {u['vmhwm_before_mib']:.0f} -> {u['vmhwm_after_mib']:.0f} MiB), "
        f"{u['samples']} samples"
    )
    raw = results["raw_upload_file"]
    print(
        f"raw boto3 upload_file: {raw['seconds']:.1f} s ({raw['MiB_per_s']:.0f} MiB/s); "
        f"ratio vault / raw {results['ratio_vault_vs_raw']:.2f}x"
    )
    if read:
        print(
            f"read back through GET /content: {read['seconds']:.1f} s ({read['MiB_per_s']:.0f} MiB/s), "
            f"peak RSS {read['peak_rss_mib']:.0f} MiB"
        )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"upload-memory-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
