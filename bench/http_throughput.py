"""Issue 9's throughput figures, in one run: records/s over the HTTP API against raw boto3 with
the same concurrency, and a 256 MiB upload against the fastest raw boto3 upload.

    .venv/bin/python -m bench.http_throughput [--records 4000] [--clients 32,256] [--processes 2]
        [--big-calls 500] [--big-records 40000] [--big-clients 4] [--upload-mib 256]
        [--workers 1] [--database-url postgresql+psycopg://127.0.0.1:5432/test]

- **API, one record per call**: C concurrent clients, spread over P client *processes* (asyncio
  + ``httpx.AsyncClient``, one keep-alive connection per client), POST ``/v1/evidence``
  (``kind=connection_metadata``, one ~1 KiB record of ``bench.run.record``) until N records
  are acknowledged (201). Each client process reports its CPU time: if a process is busy
  more than ~80 % of the wall time the client, not the vault, is the limit (printed).
- **raw**: the same N records, one boto3 ``put_object`` each, C threads sharing one client
  whose connection pool holds C connections (the fastest honest per-record baseline), into
  another bucket of the same SeaweedFS, measured just before the API figure.
- **API, calls of 500 records** (``--big-calls``): ``--big-clients`` clients, compared with
  the fastest raw rate of the run.
- **256 MiB upload** (``--upload-mib``, 0 skips): raw boto3 ``upload_file`` over a grid of
  ``TransferConfig`` part sizes and concurrencies (and boto3's default), each twice; the
  fastest is the baseline; then the same file through ``POST /v1/evidence`` (streamed
  multipart, ``X-Content-SHA256``) twice, from a separate process.

Not part of the test suite; results go to ``bench/results/http-throughput-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing as mp
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.http_ingest import VaultUp, multipart, percentiles
from bench.run import machine, record

MiB = 1024 * 1024


def _own_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _client_proc(
    url: str,
    key: str,
    bodies: list[tuple[bytes, str]],
    sizes: list[int],
    clients: int,
    ready: Any,
    start: Any,
    out: Any,
) -> None:
    import httpx

    async def main() -> dict[str, Any]:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300, limits=limits) as c:
            ready.put(1)
            await asyncio.get_running_loop().run_in_executor(None, start.wait)
            cpu0, t0 = _own_cpu(), time.perf_counter()
            # connections open now (timed): opened earlier they may sit idle beyond the server's
            # keep-alive timeout (5 s) while the other client process starts, and be closed
            await asyncio.gather(*(c.get("/healthz") for _ in range(clients)))
            nxt = iter(range(len(bodies)))
            ok: list[float] = []
            done = [0]
            errors: list[str] = []

            async def one() -> None:
                for i in nxt:
                    body, ctype = bodies[i]
                    s = time.perf_counter()
                    try:
                        r = await c.post("/v1/evidence", content=body, headers={"Content-Type": ctype})
                    except httpx.HTTPError as e:
                        errors.append(f"{type(e).__name__}: {e}")
                        continue
                    if r.status_code == 201:
                        ok.append(time.perf_counter() - s)
                        done[0] += sizes[i]
                    else:
                        errors.append(f"{r.status_code} {r.text[:200]}")

            await asyncio.gather(*(one() for _ in range(clients)))
            wall = time.perf_counter() - t0
            return {
                "latencies": ok,
                "records": done[0],
                "errors": errors,
                "wall": wall,
                "cpu": _own_cpu() - cpu0,
                "t_end": time.time(),
            }

    out.put(asyncio.run(main()))


def api_ingest(
    vault: VaultUp, key: str, payloads: list[bytes], clients: int, processes: int, per_call: int = 1
) -> dict[str, Any]:
    calls = [b"\n".join(payloads[i : i + per_call]) for i in range(0, len(payloads), per_call)]
    fields = {"session": f"tp-{clients}-{per_call}", "kind": "connection_metadata", "subject": "subj"}
    bodies = [multipart(fields, "r.json", p) for p in calls]
    sizes = [min(per_call, len(payloads) - i) for i in range(0, len(payloads), per_call)]
    processes = max(1, min(processes, clients))
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    out = ctx.Queue()
    ready = ctx.Queue()
    procs = []
    for n in range(processes):
        share = clients // processes + (1 if n < clients % processes else 0)
        procs.append(
            ctx.Process(
                target=_client_proc,
                args=(vault.url, key, bodies[n::processes], sizes[n::processes], share, ready, start, out),
                daemon=True,
            )
        )
    for p in procs:
        p.start()
    for _ in procs:  # imports done, every connection open (and not idle long enough to be closed)
        ready.get(timeout=300)
    cpu_server0, cpu_store0 = vault.cpu_seconds(), vault.store_cpu_seconds()
    segments0 = _segments(vault)
    t0_epoch = time.time()
    start.set()
    results = [out.get(timeout=900) for _ in procs]
    wall = max(r["t_end"] for r in results) - t0_epoch
    segments = _segments(vault) - segments0
    for p in procs:
        p.join()
    cpu_server = vault.cpu_seconds() - cpu_server0
    cpu_store = vault.store_cpu_seconds() - cpu_store0
    lat = [x for r in results for x in r["latencies"]]
    records = sum(r["records"] for r in results)
    errors = [e for r in results for e in r["errors"]]
    client_busy = max(r["cpu"] / r["wall"] for r in results)
    return {
        "clients": clients,
        "client_processes": processes,
        "records_per_call": per_call,
        "records": records,
        "seconds": wall,
        "records_per_s": records / wall,
        **percentiles(lat),
        "errors": len(errors),
        "first_errors": errors[:3],
        "segments": segments,
        "records_per_segment": records / max(1, segments),
        "server_cpu_ms_per_record": cpu_server / max(1, records) * 1e3,
        "server_cores": cpu_server / wall,
        "store_cores": cpu_store / wall,
        "client_cores": sum(r["cpu"] for r in results) / wall,
        "client_busiest_process_share": client_busy,
        "client_bound": client_busy > 0.8,
    }


def _segments(vault: VaultUp) -> int:
    """Segment objects written so far (group commit: records per segment = records / this)."""
    from sqlalchemy import create_engine, text

    from vault.config import load_settings

    engine = create_engine(load_settings(vault.home, env=vault.env).database_url)
    try:
        with engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM segments")).scalar_one())
    finally:
        engine.dispose()


def raw_puts(vault: VaultUp, payloads: list[bytes], threads: int, bucket: str = "bench-raw") -> dict[str, Any]:
    s3 = vault.s3(pool=threads)
    prefix = f"r{threads}-{time.monotonic_ns()}"
    s3.put_object(Bucket=bucket, Key=f"{prefix}/warm", Body=b"x")

    def put(ib: tuple[int, bytes]) -> None:
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{ib[0]}", Body=ib[1])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: s3.head_bucket(Bucket=bucket), range(threads)))  # open the pool's connections
        cpu_store0 = vault.store_cpu_seconds()
        t0 = time.perf_counter()
        list(pool.map(put, enumerate(payloads)))
        wall = time.perf_counter() - t0
    return {
        "threads": threads,
        "records": len(payloads),
        "seconds": wall,
        "records_per_s": len(payloads) / wall,
        "store_cores": (vault.store_cpu_seconds() - cpu_store0) / wall,
    }


def raw_uploads(vault: VaultUp, path: Path) -> dict[str, Any]:
    from boto3.s3.transfer import TransferConfig

    grid: list[tuple[str, TransferConfig | None]] = [("boto3 default (8 MiB x 10)", None)]
    for part in (16, 32, 64):
        for conc in (4, 8):
            grid.append((f"{part} MiB x {conc}", TransferConfig(multipart_chunksize=part * MiB, max_concurrency=conc)))
    s3 = vault.s3(pool=16)
    out: dict[str, Any] = {}
    for name, cfg in grid:
        times = []
        for n in range(2):
            t0 = time.perf_counter()
            if cfg is None:
                s3.upload_file(str(path), "bench-raw", f"upload/{n}")
            else:
                s3.upload_file(str(path), "bench-raw", f"upload/{n}", Config=cfg)
            times.append(time.perf_counter() - t0)
        out[name] = times
    best = min(out.items(), key=lambda kv: min(kv[1]))
    return {"configs": out, "fastest": best[0], "fastest_seconds": min(best[1])}


def _api_upload_proc(url: str, key: str, path: str, out: Any) -> None:
    import httpx

    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            sha.update(chunk)
    size = os.path.getsize(path)
    boundary = "benchboundary0123456789"
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in {"session": "upload", "kind": "session_recording"}.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Any:
        yield head.encode()
        with open(path, "rb") as f:
            while chunk := f.read(4 * MiB):
                yield chunk
        yield tail

    length = len(head.encode()) + size + len(tail)
    t0 = time.perf_counter()
    r = httpx.post(
        f"{url}/v1/evidence",
        content=body(),
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(length),
            "X-Content-SHA256": sha.hexdigest(),
        },
        timeout=600,
    )
    out.put({"status": r.status_code, "seconds": time.perf_counter() - t0, "body": r.text[:300]})


def api_upload(vault: VaultUp, key: str, path: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    p = ctx.Process(target=_api_upload_proc, args=(vault.url, key, str(path), out))
    cpu0 = vault.cpu_seconds()
    p.start()
    r: dict[str, Any] = out.get(timeout=900)
    p.join()
    r["server_cpu_s"] = vault.cpu_seconds() - cpu0  # includes the client's start-up: an upper bound
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=4000, help="records per single-record measurement")
    ap.add_argument("--clients", default="32,256")
    ap.add_argument("--processes", type=int, default=2, help="client processes")
    ap.add_argument("--big-calls", type=int, default=500, help="records per call of the batched run (0: skip)")
    ap.add_argument("--big-records", type=int, default=40000)
    ap.add_argument("--big-clients", type=int, default=4)
    ap.add_argument("--upload-mib", type=int, default=256, help="0: skip the upload")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--database-url", default=os.environ.get("VAULT_BENCH_DATABASE_URL"))
    ap.add_argument("--repeat", type=int, default=1, help="measure each configuration this many times")
    args = ap.parse_args()
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    n_pay = max(args.records, args.big_records if args.big_calls else 0)
    payloads = [json.dumps(record(i)).encode() for i in range(n_pay)]
    res: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "workers": args.workers,
        "index": "postgresql" if args.database_url else "sqlite",
        "load_average_at_start": os.getloadavg(),
        "single": [],
        "big": [],
    }
    lines: list[str] = []
    with VaultUp(workers=args.workers, database_url=args.database_url) as vault:
        vault.cli("tenant", "create", "bench")
        key = vault.key("technician", "bench")
        vault.s3().create_bucket(Bucket="bench-raw")
        api_ingest(vault, key, payloads[:300], 16, 1)  # warm-up: imports, data key, first segments
        best_raw = 0.0
        for _ in range(args.repeat):
            for c in counts:
                raw = raw_puts(vault, payloads[: args.records], c)
                api = api_ingest(vault, key, payloads[: args.records], c, args.processes)
                best_raw = max(best_raw, raw["records_per_s"])
                api["ratio"] = api["records_per_s"] / raw["records_per_s"]
                res["single"].append({"raw": raw, "api": api})
                lines.append(
                    f"{c:>4} clients x 1 record: API {api['records_per_s']:6.0f}/s (p50 {api.get('p50_ms', 0):.0f} ms, "
                    f"{api['errors']} errors, {api['records_per_segment']:.1f} rec/segment, "
                    f"server {api['server_cpu_ms_per_record']:.2f} CPU-ms/rec, "
                    f"client busiest {api['client_busiest_process_share']:.0%}) | raw {raw['records_per_s']:6.0f}/s "
                    f"({c} threads) | **{api['ratio']:.2f}x**"
                )
                print(lines[-1], flush=True)
            if args.big_calls:
                raw1 = raw_puts(vault, payloads[:2000], 1)
                big = api_ingest(vault, key, payloads[: args.big_records], args.big_clients, 1, args.big_calls)
                big["ratio_vs_fastest_raw"] = big["records_per_s"] / best_raw
                big["ratio_vs_raw_1_thread"] = big["records_per_s"] / raw1["records_per_s"]
                res["big"].append({"raw_1_thread": raw1, "fastest_raw": best_raw, "api": big})
                lines.append(
                    f"{args.big_clients} clients x {args.big_calls} records: API {big['records_per_s']:6.0f}/s "
                    f"(server {big['server_cpu_ms_per_record']:.3f} CPU-ms/rec, {big['errors']} errors) | fastest raw "
                    f"{best_raw:.0f}/s: **{big['ratio_vs_fastest_raw']:.2f}x** | raw 1 thread "
                    f"{raw1['records_per_s']:.0f}/s: {big['ratio_vs_raw_1_thread']:.2f}x"
                )
                print(lines[-1], flush=True)
        if args.upload_mib:
            path = vault.work / "big.bin"
            with open(path, "wb") as f:
                for _ in range(args.upload_mib):
                    f.write(os.urandom(MiB))
            raw_up = raw_uploads(vault, path)
            ups = [api_upload(vault, key, path) for _ in range(2)]
            res["upload"] = {"mib": args.upload_mib, "raw": raw_up, "api": ups}
            fastest = raw_up["fastest_seconds"]
            for u in ups:
                lines.append(
                    f"{args.upload_mib} MiB upload: API {u['seconds']:.2f} s (status {u['status']}) | fastest raw "
                    f"{fastest:.2f} s ({raw_up['fastest']}) | **{fastest / u['seconds']:.2f}x**"
                )
                print(lines[-1], flush=True)
            for name, t in raw_up["configs"].items():
                print(f"    raw {name}: {', '.join(f'{x:.2f}' for x in t)} s")
        res["load_average_at_end"] = os.getloadavg()
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"http-throughput-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(res, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
