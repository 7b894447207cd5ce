"""``vault up``: run the embedded components in the foreground until SIGTERM or Ctrl-C.

Starts, in order: SeaweedFS (``weed mini``, 127.0.0.1, signed requests only) when the S3
endpoint is ``embedded``; the index schema and bucket checks; the HTTP API on
``--host:--port`` (uvicorn: ``/v1/...``, ``/verify``, ``/healthz``, ``/readyz``, ``/metrics``, and
the built-in RFC 3161 TSA on ``/tsa``), in this process or in ``--workers`` processes; the
batcher; the scheduled retention run. The addresses go into ``$VAULT_HOME/run/state.json`` for
the other CLI verbs. Stopping reverses the order and removes the state file; no child process
or socket is left behind.

After a crash (even SIGKILL): SeaweedFS and the API workers get SIGTERM from the kernel when
``vault up`` dies (``PR_SET_PDEATHSIG``); the next ``vault up`` removes the stale state file and
stops a SeaweedFS still running on the same data directory whose owner is gone.

While it runs, the main thread supervises SeaweedFS (``_Supervisor``): a child that exits is
restarted with back-off on the same ports when they are free (if not, ``state.json`` and the
clients move to the new ones), and ``vault up`` stops with exit code 2 when
``RESTART_ATTEMPTS`` restarts in a row fail. Every ``PROBE_EVERY`` seconds it writes a probe
object; a SeaweedFS that keeps refusing writes once its disk has room again (after a full
disk its volumes stay read-only for up to a minute, its filer store may stay broken) is
restarted too. Threads of the batcher that died are started again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
from botocore.config import Config

from vault.clock import clock_from_env
from vault.config import EMBEDDED, Settings
from vault.context import VaultContext
from vault.errors import ConfigError, ServiceDown, VaultError
from vault.keys.pki import load_cert, load_private_key
from vault.runtime.audit_runner import AuditRunner
from vault.runtime.batcher import Batcher
from vault.runtime.kek_runner import KekRunner
from vault.runtime.recovery import recover_intents
from vault.runtime.renew_runner import RenewRunner
from vault.runtime.retention_runner import RetentionRunner
from vault.storage.embedded import EmbeddedSeaweed, disk_space, parent_death_signal
from vault.storage.s3 import CREDENTIALS_REFUSED, ObjectStore, make_client
from vault.timestamp.responder import TimeStampResponder

log = logging.getLogger("vault.up")

#: restarts in a row of a SeaweedFS that died before ``vault up`` gives up (exit code 2)
RESTART_ATTEMPTS = 5
#: pause after each failed restart (the last one is never waited for)
RESTART_BACKOFF = (1.0, 2.0, 4.0, 8.0)
#: seconds a restart may take (the first start gets 60)
RESTART_TIMEOUT = 30.0
#: seconds SeaweedFS gets to exit on SIGTERM before a restart kills it (after a full disk it
#: can hang in its shutdown; the graceful stop of vault up waits 15 s)
RESTART_STOP_TIMEOUT = 3.0
#: seconds between two write probes of the embedded store
PROBE_EVERY = 2.0
#: a running SeaweedFS that refuses writes this long while its disk has room is restarted
WEDGED_AFTER = 4.0
#: first pause between two such restarts; it doubles while restarting does not help
WEDGE_PAUSE = 30.0
WEDGE_PAUSE_MAX = 600.0


def _vault_process(pid: int) -> bool:
    """Whether ``pid`` runs and is a vault process (a pid reused by another program is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the pid
    return b"vault" in argv


def _write_state(settings: Settings, state: dict[str, object]) -> None:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    tmp = settings.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, settings.state_file)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}", detail=f"{e.strerror}; choose another --port") from e
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class _Api:
    """The API server: uvicorn in a thread of this process, or ``workers`` child processes
    sharing the listening socket (each opens its own context from ``$VAULT_HOME``)."""

    def __init__(self, sock: socket.socket, workers: int) -> None:
        self.sock = sock
        self.workers = workers
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._procs: list[subprocess.Popen[bytes]] = []

    def start_in_process(self, app: Any) -> None:
        import uvicorn

        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=10)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.sock]}, name="api")
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError("the API server did not start", detail="see logs/vault.log")
            time.sleep(0.02)

    def start_workers(self, settings: Settings) -> None:
        env = {**os.environ, "VAULT_HOME": str(settings.home), "VAULT_API_SERVE_TSA": "1"}
        fd = self.sock.fileno()
        for _ in range(self.workers):
            self._procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "--factory",
                        "vault.api.app:app_from_env",
                        "--fd",
                        str(fd),
                        "--log-level",
                        "warning",
                        "--no-access-log",
                    ],
                    pass_fds=(fd,),
                    env=env,
                    # the workers die with vault up, so a crash leaves nobody on the API port
                    preexec_fn=parent_death_signal(),
                )
            )

    def wait_ready(self, url: str, timeout: float = 60.0) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ConfigError("an API worker exited at start", detail="see logs/vault.log")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise ConfigError("the API workers did not become ready in time")

    def restart_workers(self, settings: Settings) -> None:
        """New worker processes (they read the embedded addresses from state.json at start)."""
        if not self._procs:
            return
        self._stop_workers()
        self.start_workers(settings)

    def alive(self) -> bool:
        if self._thread is not None:
            return self._thread.is_alive()
        return all(p.poll() is None for p in self._procs)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._stop_workers()
        self.sock.close()

    def _stop_workers(self) -> None:
        for p in self._procs:
            p.terminate()
        for p in self._procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._procs = []


def _probe_store(endpoint: str, settings: Settings) -> ObjectStore:
    """The supervisor's own client: short timeouts and no retries, so a probe of a wedged
    store answers within seconds (the vault's client retries and waits up to two minutes)."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=settings.s3_access_key or None,
        aws_secret_access_key=settings.s3_secret_key or None,
        region_name=settings.s3_region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=2,
            read_timeout=5,
            retries={"total_max_attempts": 1, "mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    return ObjectStore(client, settings.bucket)


def _exit_text(code: int | None) -> str:
    if code is None:
        return "stopped"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


class _Supervisor:
    """Keeps the embedded SeaweedFS of ``vault up`` alive and writable; ``tick()`` runs in the
    thread that started it (its children get SIGTERM when that thread ends)."""

    def __init__(
        self,
        seaweed: EmbeddedSeaweed,
        settings: Settings,
        state: dict[str, object],
        ctx: VaultContext,
        api: _Api,
        stop: threading.Event,
    ) -> None:
        self.seaweed = seaweed
        self.stop = stop
        self.settings = settings
        self.state = state
        self.ctx = ctx
        self.api = api
        self.restarts = 0
        self._probe = _probe_store(seaweed.s3_endpoint, settings)
        self._next_probe = 0.0
        self._failing_since: float | None = None
        self._room_since: float | None = None
        self._told_full = False
        self._wedge_pause = WEDGE_PAUSE
        self._next_wedge_restart = 0.0
        self._dead_since: float | None = None
        self._attempts = 0
        self._next_attempt = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        code = self.seaweed.exit_code
        if self.stop.is_set():
            return
        if code is not None or self._dead_since is not None:
            self._revive(now, code)
        elif now >= self._next_probe:
            self._check_writes()
            self._next_probe = time.monotonic() + PROBE_EVERY

    # -- a child that died --------------------------------------------------------------------

    def _revive(self, now: float, code: int | None) -> None:
        if self._dead_since is None:
            self._dead_since, self._attempts, self._next_attempt = now, 0, now
            log.error("SeaweedFS exited (%s): restarting it (its output: %s)", _exit_text(code), self.seaweed.log_dir)
        if now < self._next_attempt:
            return
        self._attempts += 1
        old = self.seaweed.s3_endpoint
        try:
            self.seaweed.stop(timeout=RESTART_STOP_TIMEOUT)  # reap it, remove its sockets and pid file
            self.seaweed.start(timeout=RESTART_TIMEOUT)
        except Exception as e:  # any failure to start is one failed attempt
            with contextlib.suppress(Exception):
                self.seaweed.stop()
            if self._attempts >= RESTART_ATTEMPTS:
                log.error(
                    "vault up stops: SeaweedFS could not be restarted after %d attempts; last error: %s",
                    self._attempts,
                    e,
                )
                raise ServiceDown(
                    f"the embedded SeaweedFS stopped and could not be restarted after {self._attempts} attempts",
                    detail=f"{e}; see {self.seaweed.log_dir} and docs/operations.md",
                ) from e
            pause = RESTART_BACKOFF[min(self._attempts, len(RESTART_BACKOFF)) - 1]
            log.error(
                "SeaweedFS restart %d/%d failed: %s; next attempt in %.0f s", self._attempts, RESTART_ATTEMPTS, e, pause
            )
            self._next_attempt = time.monotonic() + pause
            return
        took = time.monotonic() - self._dead_since
        self._dead_since = None
        self.restarts += 1
        log.warning(
            "SeaweedFS restarted (attempt %d, %.1f s after it stopped): S3 on %s (%s)",
            self._attempts,
            took,
            self.seaweed.s3_endpoint,
            _timings(self.seaweed),
        )
        self._after_start(old)

    def _after_start(self, old_endpoint: str) -> None:
        new = self.seaweed.s3_endpoint
        if new == old_endpoint:
            return
        # another program took a port meanwhile: everyone must use the new address
        log.warning("SeaweedFS is on new ports (S3 %s, was %s): updating state.json and the clients", new, old_endpoint)
        self.state["s3_endpoint"] = new
        self.state["filer_url"] = self.seaweed.filer_url
        _write_state(self.settings, self.state)
        s = self.ctx.settings
        self.ctx.settings = replace(s, s3_endpoint=new)
        self.ctx.store.client = make_client(new, s.s3_access_key, s.s3_secret_key, s.s3_region)
        self._probe = _probe_store(new, self.settings)
        self.api.restart_workers(self.settings)

    # -- a child that runs but refuses writes -------------------------------------------------

    def _check_writes(self) -> None:
        try:
            self._probe.probe_write()
        except VaultError as e:
            self._refused(e)
            return
        if self._failing_since is not None:
            took = time.monotonic() - self._failing_since
            log.info("the object store takes writes again (%.0f s after the first refusal)", took)
        self._failing_since = self._room_since = None
        self._told_full = False
        self._wedge_pause = WEDGE_PAUSE

    def _refused(self, e: VaultError) -> None:
        now = time.monotonic()  # after the probe, which may have waited for its timeout
        space = disk_space(self.seaweed.storage_dir)
        if self._failing_since is None:
            self._failing_since = now
        if space is not None and space.low:
            self._room_since = None
            if not self._told_full:
                log.error("the object store refuses writes: disk full (%s): %s", space.describe(), e)
                self._told_full = True
            return
        if self._room_since is None:
            self._room_since = now
        failing = now - max(self._failing_since, self._room_since)
        if failing < WEDGED_AFTER or now < self._next_wedge_restart or e.message.startswith(CREDENTIALS_REFUSED):
            return
        log.warning(
            "SeaweedFS refuses writes for %.0f s although its disk has room (%s): restarting it; last error: %s",
            now - self._failing_since,
            space.describe() if space is not None else "free space unknown",
            e,
        )
        self._next_wedge_restart = now + self._wedge_pause
        self._wedge_pause = min(self._wedge_pause * 2, WEDGE_PAUSE_MAX)
        self._restart_wedged(now)

    def _restart_wedged(self, now: float) -> None:
        old = self.seaweed.s3_endpoint
        started = time.monotonic()
        try:
            self.seaweed.stop(timeout=RESTART_STOP_TIMEOUT)
            self.seaweed.start(timeout=RESTART_TIMEOUT)
        except Exception as e:  # then it is a child that died: the back-off takes over
            log.error("SeaweedFS restart failed: %s", e)
            with contextlib.suppress(Exception):
                self.seaweed.stop()
            self._dead_since, self._attempts = now, 1
            self._next_attempt = time.monotonic() + RESTART_BACKOFF[0]
            return
        self.restarts += 1
        self._failing_since = self._room_since = None
        took = time.monotonic() - started
        where = self.seaweed.s3_endpoint
        log.warning("SeaweedFS restarted in %.1f s: S3 on %s (%s)", took, where, _timings(self.seaweed))
        self._after_start(old)


def _timings(seaweed: EmbeddedSeaweed) -> str:
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in seaweed.startup_timings.items())
    return f"ready after {steps}" if steps else "ready"


def run_up(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    ready: Callable[[dict[str, object]], None] | None = None,
    stop_event: threading.Event | None = None,
) -> None:
    if workers < 1 or workers > 64:
        raise ConfigError("--workers must be 1..64")
    if workers > 1 and settings.database_url.startswith("sqlite"):
        raise ConfigError(
            "several API workers need PostgreSQL", detail="SQLite allows one writer process: use --workers 1"
        )
    if not settings.config_file.exists():
        raise ConfigError("this vault home is not initialised", detail=f"{settings.home}: run `vault init`")
    if settings.state_file.exists():
        try:
            pid = int(json.loads(settings.state_file.read_text()).get("pid", 0))
        except (OSError, ValueError, AttributeError):
            pid = 0
        if pid > 0 and pid != os.getpid() and _vault_process(pid):
            raise ConfigError("the vault is already running", detail=f"pid {pid} ({settings.state_file})")
        log.warning("removing the state file of a vault up that did not stop cleanly (pid %d)", pid)
        settings.state_file.unlink(missing_ok=True)  # stale, from a killed run
    stop = stop_event or threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)

    seaweed: EmbeddedSeaweed | None = None
    api: _Api | None = None
    batcher: Batcher | None = None
    retention: RetentionRunner | None = None
    auditor: AuditRunner | None = None
    kek_runner: KekRunner | None = None
    renew_runner: RenewRunner | None = None
    ctx: VaultContext | None = None
    supervisor: _Supervisor | None = None
    try:
        state: dict[str, object] = {
            "pid": os.getpid(),
            "started_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        if settings.s3_endpoint == EMBEDDED:
            seaweed = EmbeddedSeaweed(
                settings.home / "s3",
                access_key=settings.s3_access_key,
                secret_key=settings.s3_secret_key,
            )
            seaweed.start()
            state["s3_endpoint"] = seaweed.s3_endpoint
            state["filer_url"] = seaweed.filer_url
            log.info("SeaweedFS S3 on %s (%s)", seaweed.s3_endpoint, _timings(seaweed))
        sock = _bind(host, port)
        bound = sock.getsockname()[1]
        base = f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"
        state["api_url"] = base
        state["tsa_url"] = base + "/tsa"
        state["health_url"] = base + "/healthz"
        state["verify_url"] = base + "/verify"
        api = _Api(sock, workers)
        resolved = replace(
            settings,
            s3_endpoint=str(state.get("s3_endpoint", settings.s3_endpoint)),
            tsas=tuple(replace(t, url=str(state["tsa_url"])) if t.url == EMBEDDED else t for t in settings.tsas),
        )
        ctx = VaultContext.open(resolved, migrate_schema=True)
        ctx.store.ensure_bucket()
        rec = recover_intents(ctx)
        if rec.items or rec.segments:
            log.warning("marked %d item and %d segment intents orphaned", len(rec.items), len(rec.segments))
        metrics = None
        if workers == 1:
            from vault.api.app import create_app

            # the built-in TSA shares the vault's clock, so a clock set for a drill stays consistent
            responder = TimeStampResponder(
                load_cert(settings.tsa_cert),
                load_private_key(settings.tsa_key),  # type: ignore[arg-type]
                clock=clock_from_env().now,
            )
            app = create_app(resolved, ctx=ctx, tsa_responder=responder)
            metrics = app.state.metrics
            api.start_in_process(app)
            _write_state(settings, state)
        else:
            _write_state(settings, state)  # the workers resolve the embedded addresses from it
            api.start_workers(settings)
            api.wait_ready(base + "/healthz")
        log.info("API on %s (%d worker(s)), built-in TSA on %s", base, workers, state["tsa_url"])
        hooks: dict[str, Any] = {
            "on_sealed": metrics.seal_seconds.observe if metrics else None,
            "on_tsa_error": metrics.tsa_errors.inc if metrics else None,
        }
        batcher = Batcher(ctx, **hooks)
        batcher.start()
        retention = RetentionRunner(ctx)
        retention.start()
        auditor = AuditRunner(ctx, on_result=(lambda r: metrics.audit_problems.set(r["problems"])) if metrics else None)
        auditor.start()
        kek_runner = KekRunner(ctx)
        kek_runner.start()
        renew_runner = RenewRunner(ctx)
        renew_runner.start()
        if seaweed is not None:
            supervisor = _Supervisor(seaweed, settings, state, ctx, api, stop)
        if ready:
            ready(state)
        while not stop.wait(1.0):
            if not api.alive():
                raise ConfigError("the API server stopped", detail="see logs/vault.log")
            if supervisor is not None:
                supervisor.tick()
            if not batcher.alive():
                log.error("the batcher thread died (last error: %s): starting it again", batcher.last_error)
                batcher = Batcher(ctx, **hooks)
                batcher.start()
    finally:
        settings.state_file.unlink(missing_ok=True)
        if renew_runner:
            renew_runner.stop()
        if kek_runner:
            kek_runner.stop()
        if auditor:
            auditor.stop()
        if retention:
            retention.stop()
        if batcher:
            batcher.stop()
        if api:
            api.stop()
        if ctx:
            ctx.close()
        if seaweed:
            seaweed.stop()
