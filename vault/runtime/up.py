"""``vault up``: run the embedded components in the foreground until SIGTERM or Ctrl-C.

Starts, in order: SeaweedFS (``weed mini``, 127.0.0.1, signed requests only) when the S3
endpoint is ``embedded``; the index schema and bucket checks; the HTTP API on
``--host:--port`` (uvicorn: ``/v1/...``, ``/verify``, ``/healthz``, ``/readyz``, ``/metrics``, and
the built-in RFC 3161 TSA on ``/tsa``), in this process or in ``--workers`` processes; the
batcher; the scheduled retention run. The addresses go into ``$VAULT_HOME/run/state.json`` for
the other CLI verbs. Stopping reverses the order and removes the state file; no child process
or socket is left behind.
"""

from __future__ import annotations

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
from types import FrameType
from typing import Any

from vault.clock import clock_from_env
from vault.config import EMBEDDED, Settings
from vault.context import VaultContext
from vault.errors import ConfigError
from vault.keys.pki import load_cert, load_private_key
from vault.runtime.batcher import Batcher
from vault.runtime.recovery import recover_intents
from vault.runtime.retention_runner import RetentionRunner
from vault.storage.embedded import EmbeddedSeaweed
from vault.timestamp.responder import TimeStampResponder

log = logging.getLogger("vault.up")


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

    def alive(self) -> bool:
        if self._thread is not None:
            return self._thread.is_alive()
        return all(p.poll() is None for p in self._procs)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        for p in self._procs:
            p.terminate()
        for p in self._procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.sock.close()


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
            os.kill(pid, 0)
            raise ConfigError("the vault is already running", detail=f"pid {pid} ({settings.state_file})")
        except (ProcessLookupError, ValueError, json.JSONDecodeError):
            settings.state_file.unlink(missing_ok=True)  # stale, from a killed run
        except PermissionError:
            raise ConfigError("the vault is already running", detail=str(settings.state_file)) from None
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
    ctx: VaultContext | None = None
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
            log.info("SeaweedFS S3 on %s", seaweed.s3_endpoint)
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
        batcher = Batcher(
            ctx,
            on_sealed=metrics.seal_seconds.observe if metrics else None,
            on_tsa_error=metrics.tsa_errors.inc if metrics else None,
        )
        batcher.start()
        retention = RetentionRunner(ctx)
        retention.start()
        if ready:
            ready(state)
        while not stop.wait(1.0):
            if not api.alive():
                raise ConfigError("the API server stopped", detail="see logs/vault.log")
    finally:
        settings.state_file.unlink(missing_ok=True)
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
