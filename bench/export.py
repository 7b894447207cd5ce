"""Issue 10: how long a litigation export of N items takes, and its verification, against reading
the same objects from the store with raw boto3, in one run; and whether the export's memory
stays flat in N.

    .venv/bin/python -m bench.export [--items 10000] [--threads 16] [--profile] [--heap]
        [--database-url postgresql+psycopg://127.0.0.1:5432/test]

- **deposit** (not timed against anything): N items of one tenant in 4 sessions (one data
  subject each), sealed session by session (so the bundle spans several batches): 70 %
  ``connection_metadata`` records (~1 KiB, ``bench.run.record``) in calls of 500 through
  ``vault.service.deposit.deposit_records``, 30 % session logs of 1-8 KiB through
  ``vault.ingest.files.deposit_stream``, each with committed ``ip``/``device_id``/``user``.
- **raw baseline**: boto3 GETs, on the vault's own client (``ctx.store.client``) from a pool of
  ``--threads`` threads, of every selected item's pinned object version: one GET per file
  item, and one whole GET per segment object for the records (the fewest requests that
  return every byte the export reads); also one ranged GET per record (what the exporter
  does: ``PayloadRead`` reads each record alone). Each twice; the fastest run counts.
- **export**: ``vault.service.exports.export`` of the whole tenant (4 sessions, N items) with
  ``--disclose ip`` as a legal principal, and of one session (N/4), each in a fresh process
  (spawned), whose peak resident size during the export is the kernel's ``VmHWM`` after
  resetting it (``/proc/self/clear_refs``) just before the call. ``--heap`` also runs each
  under ``tracemalloc`` (Python heap peak; not timed).
- **verify**: ``vault.verify.export_bundle.verify_export`` of each zip with pinned anchors
  (the seal CA and the TSA CA given as files, as a recipient who got them out of band would).
- ``--profile``: cProfile of the export (and of the verification) of N items, in a process
  of its own, untimed: top 15 by cumulative and by own time.

Prints a table (seconds, items/s, time as a multiple of the raw read, peak memory, zip size);
results go to ``bench/results/export-<time>.json``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import gc
import hashlib
import io
import json
import multiprocessing as mp
import os
import pstats
import random
import time
import tracemalloc
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.common import bench_vault
from bench.run import machine, record
from vault.access.principal import SYSTEM, Principal, Role
from vault.batch.sealer import seal_pending
from vault.config import Settings
from vault.context import VaultContext
from vault.export.selection import Selection
from vault.index.models import Item
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.service.deposit import deposit_records

TENANT = "bench"
SESSIONS = 4  # the small export is one session: N/4 items
CASE = "RG 26/00042"
RECORD_SHARE = 0.7
CALL = 500  # records per deposit call
MiB = 1024 * 1024
ACTIONS = (
    "technician connected",
    "screen shared",
    "opened printer settings",
    "file transfer started: report.xlsx",
    "remote reboot requested",
    "clipboard synchronised",
    "customer approved elevation",
    "session closed",
)


def legal() -> Principal:
    return Principal("key:bench", Role.LEGAL, tenant=TENANT, key_id="bench")


def session_id(k: int) -> str:
    return f"sess-2026-11-{k:02d}"


def subject(k: int) -> dict[str, str]:
    return {
        "subject": f"customer{k}@example.fr",
        "ip": f"203.0.113.{10 + k}",
        "device_id": f"DEV-{k:04d}",
        "user": f"cust{k}",
    }


def session_log(rng: random.Random, i: int) -> bytes:
    """A technician's session log of 1 to 8 KiB."""
    size = rng.randint(1024, 8192)
    out = io.StringIO()
    t = 9 * 3600 + (i * 37) % 30000
    while out.tell() < size:
        h, m, s = t // 3600, t // 60 % 60, t % 60
        out.write(f"{h:02d}:{m:02d}:{s:02d} tech{i % 17:02d} {rng.choice(ACTIONS)} (ticket T-{i:07d})\n")
        t += rng.randint(1, 90)
    return out.getvalue().encode()[:size]


# -- filling the vault ---------------------------------------------------------------------


def fill(ctx: VaultContext, n: int, threads: int) -> dict[str, Any]:
    """N items over SESSIONS sessions, each session sealed before the next is deposited."""
    rng = random.Random(10)
    counts: dict[str, Any] = {"records": 0, "files": 0, "file_bytes": 0, "batches": 0}
    t0 = time.perf_counter()
    seal_s = 0.0
    per = [n // SESSIONS + (1 if k < n % SESSIONS else 0) for k in range(SESSIONS)]
    i = 0
    for k, size in enumerate(per):
        who = subject(k)
        n_rec = round(size * RECORD_SHARE)
        n_files = size - n_rec
        logs = [session_log(rng, i + j) for j in range(n_files)]
        req = validate(
            tenant=TENANT,
            session=session_id(k),
            kind="session_log",
            subject=who["subject"],
            meta={f: who[f] for f in ("ip", "device_id", "user")},
        )
        # interleaved as a session produces them: a call of records, then some logs
        calls = max(1, -(-n_rec // CALL))
        per_call = -(-n_files // calls)
        with ThreadPoolExecutor(threads) as pool:
            for c in range(calls):
                recs = []
                for j in range(c * CALL, min((c + 1) * CALL, n_rec)):
                    r = record(i + j)
                    r.update(ip=who["ip"], device_id=who["device_id"], user=who["user"])
                    recs.append(r)
                if recs:
                    deposit_records(
                        ctx, SYSTEM, recs, tenant=TENANT, session=session_id(k), subject=who["subject"],
                        create_tenant=True,
                    )  # fmt: skip
                part = logs[c * per_call : (c + 1) * per_call]
                list(pool.map(lambda b, r=req: deposit_stream(ctx, io.BytesIO(b), r), part))
        counts["records"] += n_rec
        counts["files"] += n_files
        counts["file_bytes"] += sum(map(len, logs))
        i += size
        s0 = time.perf_counter()
        for _ in range(20):  # seal_pending seals every pending batch; again for what came meanwhile
            done = seal_pending(ctx)
            counts["batches"] += len(done)
            if not done:
                break
        seal_s += time.perf_counter() - s0
    counts["deposit_and_seal_seconds"] = round(time.perf_counter() - t0, 1)
    counts["seal_seconds"] = round(seal_s, 1)
    return counts


# -- raw baseline --------------------------------------------------------------------------


def raw_read(ctx: VaultContext, sessions: tuple[str, ...], threads: int, *, per_item: bool) -> dict[str, Any]:
    """GET every object version the selected items live in (or every item's own range)."""
    with ctx.sessions() as s:
        rows = s.execute(
            select(Item.object_key, Item.version_id, Item.offset, Item.length, Item.segment_id).where(
                Item.tenant_id == TENANT, Item.session.in_(sessions)
            )
        ).all()
    jobs: list[tuple[str, str, str | None]] = []
    segments: set[tuple[str, str]] = set()
    for key, version, offset, length, segment in rows:
        assert isinstance(version, str)
        if segment is None:
            jobs.append((key, version, None))
        elif per_item:
            assert isinstance(offset, int) and isinstance(length, int)
            jobs.append((key, version, f"bytes={offset}-{offset + length - 1}"))
        else:
            segments.add((key, version))
    jobs.extend((k, v, None) for k, v in sorted(segments))
    client: Any = ctx.store.client
    bucket = ctx.store.bucket

    def get(job: tuple[str, str, str | None]) -> int:
        key, version, rng = job
        kw: dict[str, Any] = {"Bucket": bucket, "Key": key, "VersionId": version}
        if rng:
            kw["Range"] = rng
        return len(client.get_object(**kw)["Body"].read())

    best: dict[str, Any] = {}
    for _ in range(2):
        t0 = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            size = sum(pool.map(get, jobs))
        seconds = time.perf_counter() - t0
        if not best or seconds < best["seconds"]:
            best = {"seconds": seconds, "requests": len(jobs), "bytes": size, "items": len(rows)}
    best["items_per_s"] = best["items"] / best["seconds"]
    return best


# -- export and verification, each in a process of its own ---------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def peak_rss() -> Iterator[dict[str, Any]]:
    """Resident size before, and its peak during, the block: VmHWM after resetting it (Linux
    clear_refs 5); where that is refused, a sampler thread every 20 ms."""
    import threading

    gc.collect()
    out: dict[str, Any] = {"rest_mib": _status_kib("VmRSS") / 1024}
    try:
        Path("/proc/self/clear_refs").write_text("5")
        sampler = None
        out["method"] = "VmHWM"
    except OSError:
        stop = threading.Event()
        seen = [0]

        def sample() -> None:
            while not stop.wait(0.02):
                seen[0] = max(seen[0], _status_kib("VmRSS"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out["method"] = "sampled VmRSS"
    try:
        yield out
    finally:
        if sampler is None:
            out["peak_mib"] = _status_kib("VmHWM") / 1024
        else:
            stop.set()
            sampler.join()
            out["peak_mib"] = max(seen[0], _status_kib("VmRSS")) / 1024
        out["growth_mib"] = out["peak_mib"] - out["rest_mib"]


def _profiled(fn: Callable[[], Any]) -> tuple[Any, dict[str, str]]:
    prof = cProfile.Profile()
    result = prof.runcall(fn)
    texts = {}
    for order in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(order).print_stats(15)
        texts[order] = buf.getvalue()
    return result, texts


def _wrap(owner: Any, name: str, before: Callable[[], Any], after: Callable[[Any], None]) -> None:
    """Replace ``owner.name`` by a function calling ``before()`` and then ``after(state)`` around it."""
    orig = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = before()
        try:
            return orig(*args, **kwargs)
        finally:
            after(state)

    setattr(owner, name, wrapper)


def _phases() -> dict[str, list[float]]:
    """Wall time and calls of the export's steps (module globals the writer looks up when it
    calls them, so the wrappers see every call). Nested: the S3 GETs and the checks are
    inside ``_write_item``."""
    from vault.export import report_pdf, verify_md, writer
    from vault.seal.cms import Sealer
    from vault.storage.s3 import ObjectStore

    acc: dict[str, list[float]] = {}
    targets: list[tuple[Any, str, str]] = [
        (writer, "select_items", "select_items (index query)"),
        (writer, "_load_batch", "_load_batch (batch objects from S3, seal + token checked)"),
        (writer, "_chain", "_chain"),
        (writer, "_write_item", "_write_item (all per-item work)"),
        (writer, "load_item", "  load_item (index row + key row + batch row)"),
        (writer, "check_read", "  check_read"),
        (writer, "content_salt", "  content_salt"),
        (writer, "check_payload", "  check_payload (GET + decrypt + zip write + digests), files"),
        (writer, "_all_disclosures", "  _all_disclosures (records: GET + decrypt)"),
        (writer, "check_item_path", "  check_item_path"),
        (writer, "check_timeline", "  check_timeline"),
        (writer._Zip, "add", "  _Zip.add (deflate + sha256)"),
        (ObjectStore, "_get", "ObjectStore._get (S3 request, every GET)"),
        (report_pdf, "render_report", "render_report (report.pdf)"),
        (verify_md, "export_verify_md", "export_verify_md (VERIFY.md)"),
        (writer, "canonical", "canonical (export.json)"),
        (Sealer, "seal", "Sealer.seal"),
        (writer, "stamp", "stamp (TSA)"),
    ]
    for owner, name, label in targets:
        slot = acc.setdefault(label, [0.0, 0])

        def after(t0: float, slot: list[float] = slot) -> None:
            slot[0] += time.perf_counter() - t0
            slot[1] += 1

        _wrap(owner, name, time.perf_counter, after)
    return acc


def _heap_marks() -> dict[str, float]:
    """Under tracemalloc: the heap when report.pdf and VERIFY.md start (what the export holds
    by then: export.json's lines, the zip's directory...), and each one's own peak above it."""
    from vault.export import report_pdf, verify_md

    marks: dict[str, float] = {}
    for owner, name, label in ((report_pdf, "render_report", "pdf"), (verify_md, "export_verify_md", "verify_md")):

        def before(label: str = label) -> None:
            marks[f"heap_before_{label}_mib"] = tracemalloc.get_traced_memory()[0] / MiB
            marks.setdefault("peak_before_pdf_mib", tracemalloc.get_traced_memory()[1] / MiB)
            tracemalloc.reset_peak()

        def after(_: None, label: str = label) -> None:
            marks[f"peak_during_{label}_mib"] = tracemalloc.get_traced_memory()[1] / MiB

        _wrap(owner, name, before, after)
    return marks


def export_job(settings: Settings, sessions: tuple[str, ...], out: Path, mode: str) -> dict[str, Any]:
    """In a spawned process: open the vault, export, report time and memory (``mode``: timed,
    heap (under tracemalloc), phases (wall time per step) or profile (under cProfile))."""
    from vault.export import report_pdf, verify_md  # noqa: F401  (imported before the clock: not the export's memory)
    from vault.service.exports import export

    ctx = VaultContext.open(settings)
    sel = Selection(tenant=TENANT, case=CASE, sessions=sessions, disclose=("ip",))
    res: dict[str, Any] = {"mode": mode, "code": code_digest()}
    try:
        if mode == "heap":
            marks = _heap_marks()
            tracemalloc.start()
            export(ctx, legal(), sel, out)
            res["heap_peak_mib"] = max([tracemalloc.get_traced_memory()[1] / MiB, *marks.values()])
            tracemalloc.stop()
            res["heap_marks"] = marks
        elif mode == "phases":
            acc = _phases()
            t0 = time.perf_counter()
            export(ctx, legal(), sel, out)
            res["seconds"] = time.perf_counter() - t0
            res["phases"] = {k: {"seconds": round(v[0], 2), "calls": int(v[1])} for k, v in acc.items()}
        elif mode == "profile":
            _, res["profile"] = _profiled(lambda: export(ctx, legal(), sel, out))
        else:
            with peak_rss() as mem:
                t0 = time.perf_counter()
                result = export(ctx, legal(), sel, out)
                res["seconds"] = time.perf_counter() - t0
            res["memory"] = mem
            res["items"] = result.items
            res["batches"] = result.batches
            res["size"] = result.size
            with zipfile.ZipFile(out) as z:
                res["entries"] = len(z.infolist())
                res["export_json_bytes"] = z.getinfo("export.json").file_size
                res["report_pdf_bytes"] = z.getinfo("report.pdf").file_size
                res["verify_md_bytes"] = z.getinfo("VERIFY.md").file_size
    finally:
        ctx.close()
    return res


def verify_job(path: Path, seal_ca: Path, tsa_ca: Path, mode: str) -> dict[str, Any]:
    from vault.verify.export_bundle import verify_export

    res: dict[str, Any] = {"mode": mode, "code": code_digest()}
    if mode == "profile":
        _, res["profile"] = _profiled(lambda: verify_export(path, seal_ca=seal_ca, tsa_ca=tsa_ca))
        return res
    with peak_rss() as mem:
        t0 = time.perf_counter()
        report = verify_export(path, seal_ca=seal_ca, tsa_ca=tsa_ca)
        res["seconds"] = time.perf_counter() - t0
    res["memory"] = mem
    res["valid"] = report.valid
    res["pinned"] = report.pinned
    res["items"] = len(report.items)
    res["failed"] = report.failed[:5]
    return res


def in_child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# -- the run -------------------------------------------------------------------------------


@contextlib.contextmanager
def pg_schema(url: str | None) -> Iterator[None]:
    """A fresh schema of that PostgreSQL database for the run (dropped at the end)."""
    if not url:
        yield
        return
    from sqlalchemy import create_engine, text

    schema = "bench_" + uuid.uuid4().hex[:10]
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    os.environ["VAULT_BENCH_DATABASE_URL"] = f"{url}{sep}options=-csearch_path%3D{schema}"
    try:
        yield
    finally:
        os.environ.pop("VAULT_BENCH_DATABASE_URL", None)
        with engine.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def code_digest() -> str:
    """SHA-256 over the vault package's sources: a run whose code changed midway says so."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent / "vault"
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def table_rows(label: str, run: dict[str, Any]) -> list[str]:
    raw, raw_items, exp, ver = run["raw"], run["raw_per_item"], run["export"], run["verify"]
    n = exp["items"]
    rows = [
        f"| {n} ({label}) | raw GETs, {raw['requests']} requests ({raw['bytes'] / MiB:.1f} MiB) | "
        f"{raw['seconds']:.2f} | {raw['items_per_s']:.0f} | 1 | | | |",
        f"| {n} ({label}) | raw GETs, one per item ({raw_items['requests']} requests) | "
        f"{raw_items['seconds']:.2f} | {raw_items['items_per_s']:.0f} | "
        f"{raw_items['seconds'] / raw['seconds']:.1f} | 1 | | |",
    ]
    for step, r in (("export --disclose ip", exp), ("verify_export, pinned", ver)):
        m = r["memory"]
        heap_txt = f"{r['heap_peak_mib']:.1f} MiB" if "heap_peak_mib" in r else ""
        rows.append(
            f"| {n} ({label}) | {step} | {r['seconds']:.2f} | {n / r['seconds']:.0f} | "
            f"**{r['seconds'] / raw['seconds']:.1f}** | {r['seconds'] / raw_items['seconds']:.1f} | "
            f"{m['rest_mib']:.0f} → {m['peak_mib']:.0f} MiB, +{m['growth_mib']:.0f} | {heap_txt} |"
        )
    rows.append(
        f"zip ({label}): {exp['size'] / MiB:.1f} MiB, {exp['entries']} entries, {exp['batches']} batches; "
        f"export.json {exp['export_json_bytes'] / MiB:.1f} MiB ({exp['export_json_bytes'] / n:.0f} B/item), "
        f"report.pdf {exp['report_pdf_bytes'] / MiB:.1f} MiB, VERIFY.md {exp['verify_md_bytes'] / 1024:.0f} KiB"
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=16, help="threads of the raw GETs and of the file deposits")
    ap.add_argument("--profile", action="store_true", help="cProfile the export (and verification) of N items")
    ap.add_argument("--heap", action="store_true", help="also measure each export's Python heap peak (tracemalloc)")
    ap.add_argument("--database-url", default=os.environ.get("VAULT_BENCH_DATABASE_URL"), help="PostgreSQL URL")
    args = ap.parse_args()
    res: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "index": "postgresql" if args.database_url else "sqlite",
        "items": args.items,
        "load_average_at_start": os.getloadavg(),
    }
    lines: list[str] = []
    folder = Path(__file__).resolve().parent / "results"
    folder.mkdir(exist_ok=True)
    result_file = folder / f"export-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"

    def say(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    def save() -> None:  # after every step: a long run that breaks keeps what it measured
        result_file.write_text(json.dumps(res | {"lines": lines}, indent=2, default=str))

    code = code_digest()
    res["vault_code_sha256"] = code
    runs: dict[str, dict[str, Any]] = {}
    res["runs"] = runs
    with pg_schema(args.database_url), bench_vault() as bv:
        settings = bv.settings
        ctx = VaultContext.open(settings, migrate_schema=True)
        ctx.store.ensure_bucket()
        res["deposit"] = fill(ctx, args.items, min(args.threads, 4))
        say(f"deposited and sealed: {json.dumps(res['deposit'])}")
        save()
        everything = tuple(session_id(k) for k in range(SESSIONS))
        one = everything[:1]
        seal_ca, tsa_ca = settings.seal_ca, settings.tsas[0].ca
        say(
            "| items | step | seconds | items/s | × raw read (per segment) | × raw read (per item) | "
            "peak RSS (rest → peak, growth) | Python heap peak |"
        )
        say("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for label, sessions in (("N/4", one), ("N", everything)):
            load = os.getloadavg()[0]
            raw = raw_read(ctx, sessions, args.threads, per_item=False)
            raw_items = raw_read(ctx, sessions, args.threads, per_item=True)
            out = bv.work / f"export-{label.replace('/', '-')}.zip"
            exp = in_child(export_job, settings, sessions, out, "timed")
            ver = in_child(verify_job, out, seal_ca, tsa_ca, "timed")
            assert exp["items"] == raw["items"], (exp["items"], raw["items"])
            assert ver["valid"] and ver["pinned"] and ver["items"] == exp["items"], ver
            run: dict[str, Any] = {
                "raw": raw,
                "raw_per_item": raw_items,
                "export": exp,
                "verify": ver,
                "load_before": load,
            }
            if args.heap:
                heap = in_child(export_job, settings, sessions, bv.work / f"heap-{label[-1]}.zip", "heap")
                exp["heap_peak_mib"] = heap["heap_peak_mib"]
                exp["heap_marks"] = heap["heap_marks"]
            runs[label] = run
            for line in table_rows(label, run):
                say(line)
            say(f"(load average before {load:.1f}, after {os.getloadavg()[0]:.1f})")
            save()
        if args.profile:
            res["phases"] = in_child(export_job, settings, everything, bv.work / "phases.zip", "phases")
            save()
            prof = in_child(export_job, settings, everything, bv.work / "profiled.zip", "profile")
            vprof = in_child(verify_job, bv.work / "export-N.zip", seal_ca, tsa_ca, "profile")
            res["profile_export"] = prof["profile"]
            res["profile_verify"] = vprof["profile"]
        ctx.close()
    res["load_average_at_end"] = os.getloadavg()
    measured = {r["code"] for run in runs.values() for r in (run["export"], run["verify"])}
    if len(measured) > 1:
        say(f"WARNING: the vault's code changed between the measured steps ({', '.join(sorted(measured))})")
    elif measured != {code} or code_digest() != code:
        say(f"note: the vault's code changed during the run; every measured step ran {', '.join(measured)}")
    say(
        f"index: {res['index']}; load average at start {res['load_average_at_start'][0]:.1f}, "
        f"at end {res['load_average_at_end'][0]:.1f} ({os.cpu_count()} cores)"
    )
    if "N/4" in runs and "N" in runs:
        small, big = runs["N/4"]["export"], runs["N"]["export"]
        dn = big["items"] - small["items"]
        grow = (big["memory"]["growth_mib"] - small["memory"]["growth_mib"]) * MiB / dn
        say(
            f"export memory growth per extra item: {grow:.0f} B of RSS "
            f"(export.json: {big['export_json_bytes'] / big['items']:.0f} B per item)"
            + (
                f"; Python heap {(big['heap_peak_mib'] - small['heap_peak_mib']) * MiB / dn:.0f} B per item"
                if "heap_peak_mib" in big
                else ""
            )
        )
    for label, run in runs.items():
        if "heap_marks" in run["export"]:
            say(
                f"heap marks ({label}): " + json.dumps({k: round(v, 1) for k, v in run["export"]["heap_marks"].items()})
            )
    if args.profile:
        ph = res["phases"]
        say(f"\n--- wall time per step of the export of N items ({ph['seconds']:.1f} s in all, no profiler) ---")
        for k, v in ph["phases"].items():
            say(f"{k:<75} {v['seconds']:8.2f} s {v['calls']:7d} calls")
        for what in ("export", "verify"):
            for order in ("cumulative", "tottime"):
                say(f"\n--- profile of the {what} of N items, top 15 by {order} ---")
                say(res[f"profile_{what}"][order])
    save()


if __name__ == "__main__":
    main()
