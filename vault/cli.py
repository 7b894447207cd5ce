"""The `vault` command line. Errors end as one readable line on stderr and a non-zero exit."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from vault.config import Settings, load_settings, read_state
from vault.errors import InputError, ServiceDown, VaultError

app = typer.Typer(
    name="vault",
    help="Evidence vault: hash, seal, RFC 3161-timestamp and store evidence under WORM retention.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VaultError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except OSError as e:
            err.print(f"[red]error:[/red] {e.strerror or e}: {e.filename or ''}".rstrip(": "), highlight=False)
            raise typer.Exit(2) from None
        except Exception as e:  # a bug: still one line and exit 2, never a verdict
            logging.getLogger("vault.cli").debug("unexpected error", exc_info=True)
            err.print(f"[red]error:[/red] unexpected {type(e).__name__}: {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    return load_settings()


def _context() -> Any:
    from vault.context import VaultContext

    return VaultContext.open(_settings())


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@app.command()
@handle_errors
def init() -> None:
    """Create $VAULT_HOME (config, development keys, KEK, index). Safe to run again."""
    from vault.runtime.home import init_home

    r = init_home(_settings().home)
    out.print(f"vault home  {r.home}\nconfig      {r.config}\nkeys        {r.keys}\nindex       {r.database}")


@app.command()
@handle_errors
def up(
    host: Annotated[str, typer.Option(help="Address of the built-in TSA / health endpoint.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the built-in TSA / health endpoint.")] = 8000,
) -> None:
    """Run the embedded vault (SeaweedFS, TSA, batcher) in the foreground until Ctrl-C."""
    from vault.runtime.up import run_up

    settings = _settings()
    (settings.home / "logs").mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(settings.home / "logs" / "vault.log")],
    )

    def ready(state: dict[str, object]) -> None:
        err.print(
            f"[green]vault up[/green]: S3 {state.get('s3_endpoint', 'external')}, TSA {state['tsa_url']}; Ctrl-C stops"
        )

    run_up(settings, host=host, port=port, ready=ready)


@app.command()
@handle_errors
def status(json_out: JsonOpt = False) -> None:
    """Check that the running vault's services answer (exit 0) or not (exit 1)."""
    from vault.batch.sealer import pending_count
    from vault.context import VaultContext
    from vault.timestamp.client import stamp

    settings = _settings()
    checks: dict[str, dict[str, Any]] = {}
    try:
        state = read_state(settings)
    except ServiceDown as e:
        state = {}
        checks["vault"] = {"ok": False, "detail": str(e)}
    ctx = None
    if state:
        try:
            ctx = VaultContext.open(settings)
            checks["index"] = {"ok": True, "detail": ctx.info()["database"]}
        except VaultError as e:
            checks["index"] = {"ok": False, "detail": str(e)}
    if ctx is not None:
        try:
            ctx.store.ping()
            checks["object_store"] = {
                "ok": True,
                "detail": f"{ctx.settings.s3_endpoint} bucket {ctx.settings.bucket}",
            }
        except VaultError as e:
            checks["object_store"] = {"ok": False, "detail": str(e)}
        try:
            tok = stamp(ctx.tsas, b"\x00" * 32)
            checks["tsa"] = {"ok": True, "detail": f"{tok.tsa_url} answered, token verified"}
        except VaultError as e:
            checks["tsa"] = {"ok": False, "detail": str(e)}
        hb = settings.run_dir / "batcher.heartbeat"
        try:
            age = dt.datetime.now(dt.UTC).timestamp() - float(hb.read_text())
            checks["batcher"] = {
                "ok": age < 10,
                "detail": f"last heartbeat {age:.1f}s ago, {pending_count(ctx)} item(s) pending",
            }
        except (OSError, ValueError):
            checks["batcher"] = {"ok": False, "detail": "no heartbeat"}
        ctx.close()
    ok = bool(checks) and all(c["ok"] for c in checks.values())
    if json_out:
        _emit({"ok": ok, "checks": checks})
    else:
        t = Table("service", "ok", "detail")
        for name, c in checks.items():
            t.add_row(name, "yes" if c["ok"] else "[red]NO[/red]", c["detail"])
        out.print(t)
    raise typer.Exit(0 if ok else 1)


def _meta(pairs: list[str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise InputError("--meta takes key=value", detail=repr(p))
        meta[k] = v
    return meta


def _records(data: bytes) -> list[Any]:
    try:
        text = data.decode("utf-8", errors="strict").strip()
    except UnicodeDecodeError as e:
        raise InputError("the record file is not UTF-8", detail=str(e)) from e
    if not text:
        raise InputError("the record file is empty")
    try:
        obj = json.loads(text)
        if obj == []:
            raise InputError("the record file holds an empty list: nothing to deposit")
        return obj if isinstance(obj, list) else [obj]
    except json.JSONDecodeError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise InputError(
                "connection_metadata must be a JSON object, an array of them, or JSON lines",
                detail=str(e),
            ) from e


class _ProgressReader:
    def __init__(self, f: BinaryIO, progress: Progress, task: Any) -> None:
        self.f, self.progress, self.task = f, progress, task

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.progress.advance(self.task, len(data))
        return data

    def fileno(self) -> int:
        return self.f.fileno()

    def tell(self) -> int:
        return self.f.tell()


@app.command()
@handle_errors
def deposit(
    file: Annotated[Path, typer.Argument(help="Payload file, or - for standard input.")],
    tenant: Annotated[str, typer.Option(help="Tenant (customer organisation).")],
    session: Annotated[str, typer.Option(help="Support session identifier.")],
    kind: Annotated[
        str,
        typer.Option(
            help="session_log, session_recording, signed_document, connection_metadata, transaction_proof, request."
        ),
    ],
    purpose: Annotated[str | None, typer.Option(help="Purpose from the retention table (default per kind).")] = None,
    subject: Annotated[str | None, typer.Option(help="Data subject the item is about.")] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", help="Personal field key=value, committed salted (repeatable)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Deposit evidence; prints its id once it is durable, with a signed receipt."""
    from vault.evidence.kinds import RECORD_KINDS, parse_kind
    from vault.ingest.common import validate
    from vault.ingest.files import deposit_stream
    from vault.ingest.records import deposit_records

    k = parse_kind(kind)
    meta_d = _meta(meta or [])
    path_is_stdin = str(file) == "-"
    if not path_is_stdin and not file.is_file():
        raise InputError("no such file", detail=str(file))
    ctx = _context()
    try:
        if k in RECORD_KINDS:
            if meta_d:
                raise InputError("--meta is for file kinds; a record's fields are its JSON keys")
            data = sys.stdin.buffer.read() if path_is_stdin else file.read_bytes()
            recs = _records(data)
            req = validate(tenant=tenant, session=session, kind=kind, purpose=purpose, subject=subject)
            receipts = deposit_records(ctx, [(req, r) for r in recs])
            ids = [r.item_id for r in receipts]
            if json_out:
                _emit(
                    {
                        "id": ids[0],
                        "ids": ids,
                        "count": len(ids),
                        "receipts": [r.as_json() for r in receipts],
                    }
                )
            else:
                out.print("\n".join(ids))
            return
        req = validate(tenant=tenant, session=session, kind=kind, purpose=purpose, subject=subject, meta=meta_d)
        if path_is_stdin:
            receipt = deposit_stream(ctx, sys.stdin.buffer, req)
        else:
            size = file.stat().st_size
            show = size > 8 * 1024 * 1024 and err.is_terminal and not json_out
            with (
                open(file, "rb") as f,
                Progress(
                    "[progress.description]{task.description}",
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    console=err,
                    disable=not show,
                ) as progress,
            ):
                task = progress.add_task(f"deposit {file.name}", total=size)
                receipt = deposit_stream(ctx, _ProgressReader(f, progress, task), req)  # type: ignore[arg-type]
        if json_out:
            _emit({"id": receipt.item_id, "receipt": receipt.as_json()})
        else:
            out.print(receipt.item_id)
    finally:
        ctx.close()


@app.command()
@handle_errors
def seal(json_out: JsonOpt = False) -> None:
    """Close the open batch now and wait until it is sealed and timestamped."""
    from vault.batch.sealer import seal_pending

    ctx = _context()
    try:
        batches = seal_pending(ctx)
    finally:
        ctx.close()
    if json_out:
        _emit({"batches": [b.__dict__ for b in batches], "items": sum(b.items for b in batches)})
    elif not batches:
        out.print("nothing pending")
    else:
        for b in batches:
            out.print(f"batch {b.seq}: {b.items} item(s), root {b.root}, timestamped {b.gen_time} by {b.tsa_url}")


def _print_report(report: Any, json_out: bool) -> None:
    if json_out:
        _emit(report.as_json())
        return
    t = Table("check", "ok", "detail", title=f"{report.item}: {report.status.upper()}")
    for c in report.checks:
        t.add_row(c.name, "[green]ok[/green]" if c.ok else "[red]FAILED[/red]", c.detail)
    out.print(t)
    if report.info.get("anchors") in ("folder", "partly pinned"):
        err.print(
            "[yellow]note:[/yellow] the trust anchors came from the folder itself; compare their fingerprints "
            "with the ones the provider and the TSA publish, or pin them with --seal-ca and --tsa-ca"
        )


@app.command()
@handle_errors
def verify(
    item: Annotated[str | None, typer.Argument(help="Item id (online verification).")] = None,
    bundle: Annotated[Path | None, typer.Option(help="Proof folder to verify offline.")] = None,
    seal_ca: Annotated[Path | None, typer.Option(help="Pin the seal CA (offline) instead of the folder's own.")] = None,
    tsa_ca: Annotated[Path | None, typer.Option(help="Pin the TSA CA (offline) instead of the folder's own.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Verify an item online, or a proof folder offline. Exit 0 valid, 1 invalid or pending, 2 error."""
    if (item is None) == (bundle is None):
        raise InputError("give either an item id or --bundle DIR")
    if bundle is not None:
        from vault.verify.bundle import verify_bundle

        report = verify_bundle(bundle, seal_ca=seal_ca, tsa_ca=tsa_ca)
    else:
        from vault.verify.online import verify_item

        assert item is not None
        ctx = _context()
        try:
            report = verify_item(ctx, item)
        finally:
            ctx.close()
    _print_report(report, json_out)
    raise typer.Exit(report.exit_code)


@app.command()
@handle_errors
def proof(
    item: Annotated[str, typer.Argument(help="Item id.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to create (must not exist or be empty).")],
) -> None:
    """Write a self-contained proof folder (payload, manifests, seal, token, certificates, VERIFY.md)."""
    from vault.proof.export import export_proof

    ctx = _context()
    try:
        path = export_proof(ctx, item, out_dir)
    finally:
        ctx.close()
    out.print(str(path))


@app.command()
@handle_errors
def recover(
    older_than: Annotated[
        float, typer.Option(min=0, max=10 * 365 * 86400, help="Grace period in seconds for unfinished deposits.")
    ] = 900,
    json_out: JsonOpt = False,
) -> None:
    """Mark deposits interrupted by a crash as orphaned (never acknowledged, never evidence)."""
    from vault.runtime.recovery import recover_intents

    if older_than != older_than:  # NaN
        raise InputError("--older-than must be a number of seconds")
    ctx = _context()
    try:
        r = recover_intents(ctx, older_than=dt.timedelta(seconds=older_than))
    finally:
        ctx.close()
    if json_out:
        _emit({"orphaned_items": r.items, "orphaned_segments": r.segments})
    else:
        out.print(f"{len(r.items)} item intent(s) and {len(r.segments)} segment intent(s) marked orphaned")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
