"""Records per second over the HTTP API against raw boto3 on the same SeaweedFS, in one run.

    .venv/bin/python -m bench.http_ingest [--records 5000] [--clients 32,256] [--seconds 120]
                                          [--workers 1] [--database-url postgresql+psycopg://...]

Starts a real ``vault up`` in a temporary home, in its own process (embedded SeaweedFS,
built-in TSA on ``/tsa``, batcher, retention runner: the ``make run`` default), creates a
tenant and a technician key with the CLI, then:

- **API**: C concurrent clients (threads, one keep-alive ``httpx.Client`` each) each POST
  ``/v1/evidence`` with ``kind=connection_metadata`` and ONE record of ~1 KiB per call (the
  shape of ``bench.run.record``), until N records are acknowledged (201) or the time is up;
- **raw**: the same N records, one boto3 ``put_object`` each, default client, 1 thread and C
  threads, into another bucket of the same SeaweedFS (no encryption, no lock, no index, no
  receipt: the floor under any evidence store).

Prints records/s, latency percentiles, the CPU seconds spent by the vault's processes (per
record), SeaweedFS and the client process, and the ratios API / raw. Clients and server share the machine's cores, as
they do when a benchmark runs on one host. Not part of the test suite; results also go to
``bench/results/http-ingest-<time>.json`` (ignored by git).

``VaultUp`` (below) is shared with ``bench.upload_memory``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from bench.run import machine, record

ROOT = Path(__file__).resolve().parent.parent
VAULT = [sys.executable, "-m", "vault.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class VaultUp:
    """``vault init`` + ``vault up`` in a temporary home, in a separate process."""

    def __init__(self, *, workers: int = 1, database_url: str | None = None) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="vault-http-bench-"))
        self.home = self.work / "var"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {**os.environ, "VAULT_HOME": str(self.home)}
        self._pg_schema: str | None = None
        self._pg_admin = database_url
        if database_url:  # a fresh schema of that database, dropped at the end
            self._pg_schema = "bench_" + uuid.uuid4().hex[:10]
            self._pg(f'CREATE SCHEMA "{self._pg_schema}"')
            sep = "&" if "?" in database_url else "?"
            self.env["VAULT_DATABASE_URL"] = f"{database_url}{sep}options=-csearch_path%3D{self._pg_schema}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.state: dict[str, Any] = {}

    def _pg(self, sql: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(str(self._pg_admin))
        try:
            with engine.begin() as c:
                c.execute(text(sql))
        finally:
            engine.dispose()

    def cli(self, *args: str) -> str:
        r = subprocess.run([*VAULT, *args], env=self.env, capture_output=True, cwd=ROOT, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"vault {' '.join(args)}: {r.stderr.decode()[-2000:]}")
        return r.stdout.decode()

    def start(self, timeout: float = 90) -> VaultUp:
        self.cli("init")
        self.log = open(self.work / "up.log", "wb")  # noqa: SIM115  (closed in stop)
        self.proc = subprocess.Popen(
            [*VAULT, "up", "--port", str(self.port), "--workers", str(self.workers)],
            env=self.env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vault up exited: {(self.work / 'up.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vault up not ready: {(self.work / 'up.log').read_text()[-3000:]}")
            time.sleep(0.3)
        self.state = json.loads((self.home / "run" / "state.json").read_text())
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def key(self, role: str, tenant: str | None) -> str:
        args = ["admin", "key", "create", "--role", role, "--json"]
        if tenant:
            args += ["--tenant", tenant]
        return str(json.loads(self.cli(*args))["key"])

    def s3(self, pool: int = 10) -> Any:
        """A raw boto3 client of the vault's own SeaweedFS, default configuration but its pool."""
        from vault.config import load_settings

        s = load_settings(self.home, env=self.env)
        return boto3.client(
            "s3",
            endpoint_url=self.state["s3_endpoint"],
            aws_access_key_id=s.s3_access_key,
            aws_secret_access_key=s.s3_secret_key,
            region_name="us-east-1",
            config=Config(max_pool_connections=max(10, pool)),
        )

    def cpu_seconds(self) -> float:
        """user + system CPU of the vault's Python processes: ``vault up`` (API, batcher) and,
        with ``--workers N``, its API worker processes; not SeaweedFS (see ``store_cpu_seconds``)."""
        return sum(_cpu(p) for p in [self.pid, *_children(self.pid)] if _comm(p) != "weed")

    def store_cpu_seconds(self) -> float:
        """user + system CPU of the embedded SeaweedFS (``weed``) that ``vault up`` runs."""
        return sum(_cpu(p) for p in _children(self.pid) if _comm(p) == "weed")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # as Ctrl-C: it stops the API, batcher, SeaweedFS
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if hasattr(self, "log"):
            self.log.close()
        if self._pg_schema:
            self._pg(f'DROP SCHEMA "{self._pg_schema}" CASCADE')
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self) -> VaultUp:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu(pid: int) -> float:
    try:
        f = _stat(pid)
    except OSError:  # gone
        return 0.0
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int(_stat(int(d.name))[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def multipart(fields: dict[str, str], filename: str, payload: bytes) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body, fields first and the file last (what the API wants),
    encoded once ahead of the run so that the clients spend their CPU on HTTP only."""
    boundary = secrets.token_hex(16)
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    out += payload + f"\r\n--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    return {"p50_ms": q[49] * 1e3, "p95_ms": q[94] * 1e3, "p99_ms": q[98] * 1e3, "max_ms": max(latencies) * 1e3}


def http_ingest(
    vault: VaultUp, key: str, payloads: list[bytes], clients: int, seconds: float, per_call: int = 1
) -> dict[str, Any]:
    """C client threads POST ``per_call`` records per call (one JSON object, or JSON lines)
    until every payload is acknowledged or the time is up; records/s counts the 201s only."""
    calls = [b"\n".join(payloads[i : i + per_call]) for i in range(0, len(payloads), per_call)]
    bodies = [
        multipart({"session": f"http-{clients}", "kind": "connection_metadata", "subject": "subj"}, "r.json", p)
        for p in calls
    ]
    sizes = [min(per_call, len(payloads) - i) for i in range(0, len(payloads), per_call)]
    lock = threading.Lock()
    nxt = iter(range(len(bodies)))
    ok: list[float] = []
    done: list[int] = []
    errors: list[str] = []
    start_gate = threading.Barrier(clients + 1)
    deadline = 0.0

    def client() -> None:
        with httpx.Client(base_url=vault.url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
            c.get("/healthz")  # the connection is open before the clock starts
            start_gate.wait()
            while time.monotonic() < deadline:
                with lock:
                    i = next(nxt, None)
                if i is None:
                    return
                body, ctype = bodies[i]
                t0 = time.perf_counter()
                try:
                    r = c.post("/v1/evidence", content=body, headers={"Content-Type": ctype})
                except httpx.HTTPError as e:
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}")
                    continue
                dt = time.perf_counter() - t0
                with lock:
                    if r.status_code == 201:
                        ok.append(dt)
                        done.append(sizes[i])
                    else:
                        errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    cpu_server0, cpu_store0, cpu_client0 = vault.cpu_seconds(), vault.store_cpu_seconds(), _own_cpu()
    deadline = time.monotonic() + seconds
    start_gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu_server, cpu_client = vault.cpu_seconds() - cpu_server0, _own_cpu() - cpu_client0
    cpu_store = vault.store_cpu_seconds() - cpu_store0
    records = sum(done)
    return {
        "clients": clients,
        "records_per_call": per_call,
        "calls": len(ok),
        "records": records,
        "seconds": wall,
        "records_per_s": records / wall,
        **percentiles(ok),
        "errors": len(errors),
        "first_errors": errors[:3],
        "server_cpu_s": cpu_server,
        "server_cpu_ms_per_record": cpu_server / max(1, records) * 1e3,
        "store_cpu_s": cpu_store,
        "client_cpu_s": cpu_client,
        "timed_out": len(ok) + len(errors) < len(bodies),
    }


def _own_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def raw_puts(s3: Any, bucket: str, prefix: str, payloads: list[bytes], threads: int) -> dict[str, Any]:
    def put(ib: tuple[int, bytes]) -> None:
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{ib[0]}", Body=ib[1])

    t0 = time.perf_counter()
    if threads == 1:
        for ib in enumerate(payloads):
            put(ib)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, enumerate(payloads)))
    wall = time.perf_counter() - t0
    return {"threads": threads, "records": len(payloads), "seconds": wall, "records_per_s": len(payloads) / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=5000, help="records per measurement")
    ap.add_argument("--clients", default="32,256", help="comma-separated concurrent client counts")
    ap.add_argument("--seconds", type=float, default=120, help="time limit of each API measurement")
    ap.add_argument(
        "--batched", type=int, default=100, help="also: 32 clients sending this many records per call (0: skip)"
    )
    ap.add_argument("--workers", type=int, default=1, help="vault up --workers (more than 1 needs PostgreSQL)")
    ap.add_argument("--database-url", default=os.environ.get("VAULT_BENCH_DATABASE_URL"), help="PostgreSQL URL")
    args = ap.parse_args()
    counts = [int(c) for c in args.clients.split(",") if c.strip()]

    payloads = [json.dumps(record(i)).encode() for i in range(args.records)]
    results: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "records": args.records,
        "record_bytes": sum(map(len, payloads)) // len(payloads),
        "workers": args.workers,
        "index": "postgresql" if args.database_url else "sqlite",
        "load_average_at_start": os.getloadavg(),
    }
    with VaultUp(workers=args.workers, database_url=args.database_url) as vault:
        vault.cli("tenant", "create", "bench")
        key = vault.key("technician", "bench")
        s3 = vault.s3(pool=max(counts))
        s3.create_bucket(Bucket="bench-raw")
        # warm-up, not timed: imports, connections, the subject's data key, the first segment
        http_ingest(vault, key, payloads[:200], 8, 60)
        results["raw_1_thread"] = raw_puts(s3, "bench-raw", "r1", payloads, 1)
        results["api"] = {}
        results["raw"] = {}
        for c in counts:
            results["raw"][c] = raw_puts(s3, "bench-raw", f"r{c}", payloads, c)
            results["api"][c] = http_ingest(vault, key, payloads, c, args.seconds)
            a, r = results["api"][c], results["raw"][c]
            a["ratio_vs_raw_same_concurrency"] = a["records_per_s"] / r["records_per_s"]
            a["ratio_vs_raw_1_thread"] = a["records_per_s"] / results["raw_1_thread"]["records_per_s"]
        if args.batched:
            b = http_ingest(vault, key, payloads, 32, args.seconds, per_call=args.batched)
            b["ratio_vs_raw_1_thread"] = b["records_per_s"] / results["raw_1_thread"]["records_per_s"]
            results["api_batched"] = b
        results["load_average_at_end"] = os.getloadavg()

    print(json.dumps(results, indent=2))
    print()
    r1 = results["raw_1_thread"]["records_per_s"]
    for c in counts:
        a, r = results["api"][c], results["raw"][c]
        print(
            f"{c:>4} clients: API {a['records_per_s']:7.0f} records/s (p50 {a.get('p50_ms', 0):.0f} ms, "
            f"p99 {a.get('p99_ms', 0):.0f} ms, {a['errors']} errors, server {a['server_cpu_ms_per_record']:.2f} "
            f"CPU-ms/record) | raw PUT {r['records_per_s']:6.0f}/s ({c} threads), {r1:.0f}/s (1 thread) | "
            f"ratio {a['ratio_vs_raw_same_concurrency']:.2f}x (same concurrency), {a['ratio_vs_raw_1_thread']:.2f}x "
            "(vs 1 thread)"
        )
    if args.batched:
        b = results["api_batched"]
        print(
            f"  32 clients, {args.batched} records per call: API {b['records_per_s']:7.0f} records/s "
            f"(p50 {b.get('p50_ms', 0):.0f} ms per call, {b['errors']} errors) | ratio {b['ratio_vs_raw_1_thread']:.2f}x "
            "(vs raw 1 thread)"
        )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"http-ingest-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
