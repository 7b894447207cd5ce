"""`vault client ...`: the technician's commands (docs/client.md).

Only typer and the standard library at import time: `vault client --help` must not load the
server stack, and httpx/cryptography load only in the commands that talk or sign.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from vault.client.errors import EXIT_INPUT, EXIT_OFFLINE, EXIT_OK, EXIT_REFUSED, ClientError
from vault.errors import VaultError

if TYPE_CHECKING:
    from rich.console import Console

    from vault.client.config import Login
    from vault.client.sender import FlushResult
    from vault.client.spool import Entry, Spool

app = typer.Typer(
    help="The technician's client: log in, deposit session files (signed, spooled offline, sent exactly once).",
    no_args_is_help=True,
)
F = TypeVar("F", bound=Callable[..., Any])
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")
META_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _line(text: object) -> str:
    from rich.markup import escape

    return escape(" ".join(str(text).split()))


def handle_errors(fn: F) -> F:
    """Every error ends as ONE line on stderr and the exit code of docs/client.md."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VaultError as e:
            _console(True).print(f"[red]error:[/red] {_line(e)}")
            raise typer.Exit(e.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except OSError as e:
            where = f"{e.strerror or e}: {e.filename or ''}".rstrip(": ")
            _console(True).print(f"[red]error:[/red] {_line(where)}")
            raise typer.Exit(EXIT_INPUT) from None
        except Exception as e:  # a bug: still one line
            _console(True).print(f"[red]error:[/red] {_line(f'unexpected {type(e).__name__}: {e}')}")
            raise typer.Exit(EXIT_INPUT) from None

    return wrapper  # type: ignore[return-value]


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _open_spool(*, create: bool) -> Spool:
    from vault.client.config import load_spool_key, state_dir
    from vault.client.spool import Spool

    return Spool.at(state_dir() / "spool", load_spool_key(create=create))


# -- login ---------------------------------------------------------------------------------


@app.command()
@handle_errors
def login(
    url: Annotated[str, typer.Option(help="The vault's base URL, e.g. https://vault.example.net")],
    key: Annotated[str, typer.Option(help="Your technician API key (vk_…).", envvar="VAULT_CLIENT_KEY")],
    tenant: Annotated[
        str | None, typer.Option(help="Your tenant (needed to sign, unless the vault names it when registering).")
    ] = None,
    label: Annotated[str | None, typer.Option(help="Label of this device (default: the host name).")] = None,
    new_device: Annotated[bool, typer.Option("--new-device", help="Make a new device key even if one exists.")] = False,
) -> None:
    """Store URL and key, make an Ed25519 device key and register it with the vault."""
    import datetime as dt
    import platform

    from vault.client import statement
    from vault.client.config import Login, device_key_file, load_login, load_spool_key, save_login, write_private
    from vault.client.transport import Vault

    url = url.rstrip("/")
    if not re.match(r"^https?://[^\s/]+", url):
        raise ClientError(f"--url must be an http(s) URL, not {url!r}")
    if not re.match(r"^vk_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}$", key):
        raise ClientError("--key must be an API key vk_<id>_<secret>, as `vault admin key create` prints it")
    if tenant is not None and not NAME_RE.match(tenant):
        raise ClientError(f"--tenant {tenant!r} is not a tenant name")
    err = _console(True)
    try:
        previous: Login | None = load_login()
    except ClientError:
        previous = None
    fresh = Login(url=url, api_key=key, tenant=tenant, device=None, fingerprint=None, created="")
    keep = (
        previous is not None
        and not new_device
        and previous.url == url
        and previous.api_key == key
        and previous.device is not None
        and device_key_file().exists()
    )
    with Vault(fresh) as vault:
        vault.probe()  # a bad key or URL stops here, before anything is written
        if keep:
            assert previous is not None
            device, fingerprint = previous.device, previous.fingerprint
            tenant = tenant or previous.tenant
            private = None
        else:
            private, public = statement.generate_device_key()
            fingerprint = statement.fingerprint(public)
            answer = vault.register_device(public, label or f"vault client on {platform.node() or 'unknown host'}")
            device = None
            if answer is None:
                err.print(
                    "[yellow]warning:[/yellow] this vault has no device registration (POST /v1/devices answered 404): "
                    "deposits will be UNSIGNED until you run `vault client login` again on a vault that has it"
                )
            else:
                device = str(answer["id"])
                said = answer.get("tenant")
                if said and tenant and said != tenant:
                    raise ClientError(f"the vault says this key belongs to tenant {said!r}, not {tenant!r}")
                tenant = tenant or (str(said) if said else None)
                if answer.get("fingerprint") and answer["fingerprint"] != fingerprint:
                    raise ClientError("the vault registered another key than the one sent (fingerprint differs)")
                if tenant is None:
                    raise ClientError("the vault did not say which tenant the key belongs to: give --tenant")
    if private is not None:
        write_private(device_key_file(), private)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = save_login(
        Login(url=url, api_key=key, tenant=tenant, device=device, fingerprint=fingerprint, created=created)
    )
    load_spool_key(create=True)
    out = _console()
    out.print(f"logged in to {_line(url)} as key {key.split('_')[1]} (tenant {tenant or 'not named'})")
    out.print(f"device     {device or 'NOT REGISTERED (unsigned deposits)'}  sha256:{fingerprint}")
    out.print(f"config     {_line(path.parent)}")


# -- deposit -------------------------------------------------------------------------------


def _parse_meta(pairs: list[str] | None) -> dict[str, Any] | None:
    if not pairs:
        return None
    meta: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not META_NAME_RE.match(name):
            raise ClientError(f"--meta {pair!r}: expected name=value, the name of 1-64 letters, digits, _ - . :")
        if name in meta:
            raise ClientError(f"--meta {name!r} given twice")
        meta[name] = value
    return meta


def _check_common(session: str, purpose: str | None, subject: str | None) -> None:
    from vault.evidence.kinds import Purpose

    if not NAME_RE.match(session):
        raise ClientError(f"--session {session!r}: 1-64 letters, digits and . _ : @ -, starting with a letter or digit")
    if subject is not None and not NAME_RE.match(subject):
        raise ClientError(f"--subject {subject!r}: 1-64 letters, digits and . _ : @ -, starting with a letter or digit")
    if purpose is not None and purpose not in {p.value for p in Purpose}:
        raise ClientError(f"unknown purpose {purpose!r}", detail=", ".join(p.value for p in Purpose))


def _check_file(path: Path) -> Path:
    if not path.exists():
        raise ClientError(f"no such file: {path}")
    if not path.is_file():
        raise ClientError(f"not a regular file: {path}")
    with open(path, "rb"):  # readable now, not half-way through spooling
        pass
    return path


class _Bars:
    """A rich progress bar per large file, on stderr (only on a terminal)."""

    def __init__(self) -> None:
        self.progress: Any = None

    def __call__(self, entry: Entry, start: int) -> Callable[[int], None] | None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

        if self.progress is None:
            console = _console(True)
            if not console.is_terminal:
                return None
            self.progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            self.progress.start()
        task = self.progress.add_task(entry.filename[:40], total=entry.size, completed=start)
        return lambda n: self.progress.advance(task, n)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _flush(spool: Spool, login: Login) -> FlushResult:
    from vault.client.sender import Signer, flush
    from vault.client.transport import Vault

    bars = _Bars()
    try:
        with Vault(login) as vault:
            return flush(spool, Signer(login), vault, progress=bars)
    finally:
        bars.close()


def _deposit(
    files: list[tuple[Path, str]],
    *,
    session: str,
    purpose: str | None,
    subject: str | None,
    meta: dict[str, Any] | None,
    json_out: bool,
) -> None:
    from vault.client.config import load_login
    from vault.client.sender import Item, Signer, spool_files

    login = load_login()
    spool = _open_spool(create=True)
    signer = Signer(login)
    new = spool_files(
        spool,
        signer,
        [Item(p, k) for p, k in files],
        session=session,
        purpose=purpose,
        subject=subject,
        meta=meta,
    )
    result = _flush(spool, login)
    mine = {e.id: e for e in new}
    sent = [s for s in result.sent if s["entry"] in mine]
    refused = [f for f in result.failed if f["entry"] in mine]
    key_refused = [f for f in result.failed if f.get("status") in (401, 403)]
    if key_refused:  # the vault refuses the key: nothing of this deposit is kept
        for entry in new:
            if spool.exists(entry) and entry.id not in {s["entry"] for s in sent}:
                spool.remove(entry)
                if entry.id not in {f["entry"] for f in refused}:
                    refused.append({"entry": entry.id, "file": entry.file, "error": key_refused[0]["error"]})
    for f in refused:  # a 4xx is never kept in the spool by a deposit: reported, not queued
        if f["entry"] in mine and spool.exists(mine[f["entry"]]):
            spool.remove(mine[f["entry"]])
    done = {s["entry"] for s in sent} | {f["entry"] for f in refused}
    spooled = [e for e in new if e.id not in done]
    earlier = [s for s in result.sent if s["entry"] not in mine]
    if json_out:
        _emit(
            {
                "sent": [{"file": s["file"], "ids": s["ids"]} for s in sent],
                "spooled": [{"file": e.file, "entry": e.id} for e in spooled],
                "refused": [{"file": f["file"], "error": f["error"]} for f in refused],
                "earlier_sent": [{"file": s["file"], "ids": s["ids"]} for s in earlier],
                "signed": signer.active,
                "reason": result.offline,
            }
        )
    else:
        out, err = _console(), _console(True)
        for s in earlier:
            out.print(f"sent (spooled earlier)  {_line(s['file'])}  {' '.join(s['ids'])}")
        for s in sent:
            out.print(f"sent     {_line(s['file'])}  {' '.join(s['ids'])}")
        for e in spooled:
            out.print(f"spooled  {_line(e.file)}  (entry {e.id})")
        if spooled:
            why = _line(result.offline or "another flush is running")
            err.print(
                f"{len(spooled)} file(s) safely spooled, encrypted: {why}; "
                "`vault client flush` sends them (so does the next deposit)"
            )
        if not signer.active:
            err.print("[yellow]warning:[/yellow] unsigned: this login has no registered device key")
        for f in refused:
            err.print(f"[red]refused:[/red] {_line(f['file'])}: {_line(f['error'])}")
    if refused:
        raise typer.Exit(EXIT_REFUSED)


SessionOpt = Annotated[str, typer.Option(help="The support session (1-64 of letters, digits, . _ : @ -).")]
PurposeOpt = Annotated[str | None, typer.Option(help="Retention purpose (default per kind).")]
SubjectOpt = Annotated[str | None, typer.Option(help="The data subject the files are about.")]
MetaOpt = Annotated[list[str] | None, typer.Option("--meta", help="A personal field name=value (repeat).")]


@app.command()
@handle_errors
def deposit(
    files: Annotated[list[Path], typer.Argument(help="Files to deposit, in this order.")],
    session: SessionOpt,
    kind: Annotated[str, typer.Option(help="session_log, session_recording, signed_document, ...")],
    purpose: PurposeOpt = None,
    subject: SubjectOpt = None,
    meta: MetaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Hash, sign and spool FILES, then send them (and whatever was spooled before).
    Exit 0 when each file is sent or safely spooled (and says which)."""
    from vault.client.kinds import check_kind

    _check_common(session, purpose, subject)
    check_kind(kind)
    metadata = _parse_meta(meta)
    paths = [_check_file(p) for p in files]
    _deposit(
        [(p, kind) for p in paths], session=session, purpose=purpose, subject=subject, meta=metadata, json_out=json_out
    )


@app.command("upload-session")
@handle_errors
def upload_session(
    folder: Annotated[Path, typer.Argument(help="A folder of session files (hidden files are skipped).")],
    session: SessionOpt,
    kind: Annotated[str | None, typer.Option(help="One kind for every file (default: guessed from names).")] = None,
    purpose: PurposeOpt = None,
    subject: SubjectOpt = None,
    meta: MetaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Deposit every file of FOLDER (sorted by name), each kind guessed from its name."""
    from vault.client.kinds import check_kind, guess_kind

    _check_common(session, purpose, subject)
    metadata = _parse_meta(meta)
    if not folder.is_dir():
        raise ClientError(f"not a folder: {folder}")
    paths = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file())
    if not paths:
        raise ClientError(f"no files in {folder}")
    files = [(_check_file(p), check_kind(kind) if kind else guess_kind(p)) for p in paths]
    _deposit(files, session=session, purpose=purpose, subject=subject, meta=metadata, json_out=json_out)


# -- the spool -----------------------------------------------------------------------------


@app.command("flush")
@handle_errors
def flush_cmd(json_out: JsonOpt = False) -> None:
    """Send what the spool holds, in order. Exit 0: all sent; 1: some refused (kept aside,
    see `status`); 75: the vault cannot be reached now (nothing lost)."""
    from vault.client.config import load_login

    login = load_login()
    spool = _open_spool(create=True)
    result = _flush(spool, login)
    if json_out:
        _emit(result.as_json())
    else:
        out, err = _console(), _console(True)
        for s in result.sent:
            out.print(f"sent     {_line(s['file'])}  {' '.join(s['ids'])}")
        for r in result.resumed:
            out.print(f"resumed  {_line(r['file'])} at byte {r['offset']}")
        for f in result.failed:
            err.print(f"[red]refused:[/red] {_line(f['file'])}: {_line(f['error'])}")
        if result.busy:
            err.print("another flush is running; it sends the spool")
        elif result.remaining:
            err.print(f"{result.remaining} file(s) still spooled: {_line(result.offline or '')}")
        elif not result.sent and not result.failed:
            out.print("the spool is empty")
    if result.failed:
        raise typer.Exit(EXIT_REFUSED)
    if result.remaining:
        raise typer.Exit(EXIT_OFFLINE)
    raise typer.Exit(EXIT_OK)


@app.command()
@handle_errors
def status(json_out: JsonOpt = False) -> None:
    """The login and the spool: what waits to be sent, what the vault refused."""
    from vault.client.config import describe, load_login, spool_key_file, state_dir

    try:
        login: Login | None = load_login()
    except ClientError:
        login = None
    entries: list[Entry] = []
    if spool_key_file().exists() or (state_dir() / "spool").exists():
        spool = _open_spool(create=False)
        entries = spool.entries()
    pending = [e.public() for e in entries if e.state == "pending"]
    refused = [e.public() for e in entries if e.state != "pending"]
    if json_out:
        _emit({"login": describe(login), "pending": pending, "refused": refused})
        return
    from rich.table import Table

    out = _console()
    if login is None:
        out.print("not logged in (`vault client login --url URL --key KEY`)")
    else:
        out.print(f"vault   {_line(login.url)}  key {login.key_id}  tenant {login.tenant or '?'}")
        out.print(f"device  {login.device or 'NOT REGISTERED: deposits are unsigned'}")
    if not entries:
        out.print("spool   empty")
        return
    total = sum(int(e["size"]) for e in pending)
    out.print(f"spool   {len(pending)} pending ({total} bytes), {len(refused)} refused")
    t = Table("entry", "session", "kind", "file", "size", "spooled", "state")
    for e in pending + refused:
        state = e["state"] if not e["error"] else f"{e['state']}: {e['error']}"
        if e["upload_url"] and e["state"] == "pending":
            state = "pending (upload started)"
        t.add_row(e["id"], e["session"], e["kind"], e["file"], str(e["size"]), e["spooled_at"], state)
    out.print(t)


@app.command()
@handle_errors
def discard(entry: Annotated[str, typer.Argument(help="The entry (as `status` shows it) of a refused file.")]) -> None:
    """Remove a REFUSED entry from the spool (pending ones are never discarded)."""
    spool = _open_spool(create=False)
    entry_id = entry.zfill(12) if entry.isdigit() else entry
    if entry_id not in spool.ids():
        raise ClientError(f"no spool entry {entry}")
    e = spool.load(entry_id)
    if e.state == "pending":
        raise ClientError(f"entry {entry} is pending, not refused: `vault client flush` sends it")
    spool.remove(e)
    _console().print(f"discarded entry {e.id} ({_line(e.file)})")
