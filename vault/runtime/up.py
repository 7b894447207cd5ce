"""``vault up``: run the embedded components in the foreground until SIGTERM or Ctrl-C.

Starts, in order: SeaweedFS (``weed mini``, 127.0.0.1, signed requests only) when the S3
endpoint is ``embedded``; the built-in RFC 3161 TSA on ``--host:--port`` (``/tsa``, plus
``/healthz``); the index schema and bucket checks; the batcher; the scheduled retention run. The addresses go into
``$VAULT_HOME/run/state.json`` for the other CLI verbs. Stopping reverses the order and
removes the state file; no child process or socket is left behind.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import replace
from types import FrameType

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
from vault.timestamp.server import TSAServer

log = logging.getLogger("vault.up")


def _write_state(settings: Settings, state: dict[str, object]) -> None:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    tmp = settings.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, settings.state_file)


def run_up(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    ready: Callable[[dict[str, object]], None] | None = None,
    stop_event: threading.Event | None = None,
) -> None:
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
    tsa_server: TSAServer | None = None
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
        # the built-in TSA shares the vault's clock, so a clock set for a drill stays consistent
        responder = TimeStampResponder(
            load_cert(settings.tsa_cert),
            load_private_key(settings.tsa_key),  # type: ignore[arg-type]
            clock=clock_from_env().now,
        )
        try:
            tsa_server = TSAServer(responder, host=host, port=port).start()
        except OSError as e:
            raise ConfigError(f"cannot listen on {host}:{port}", detail=f"{e.strerror}; choose another --port") from e
        state["tsa_url"] = tsa_server.url
        state["health_url"] = tsa_server.url.rsplit("/", 1)[0] + "/healthz"
        log.info("built-in TSA on %s", tsa_server.url)

        resolved = replace(
            settings,
            s3_endpoint=str(state.get("s3_endpoint", settings.s3_endpoint)),
            tsas=tuple(replace(t, url=tsa_server.url) if t.url == EMBEDDED else t for t in settings.tsas),
        )
        ctx = VaultContext.open(resolved, migrate_schema=True)
        ctx.store.ensure_bucket()
        rec = recover_intents(ctx)
        if rec.items or rec.segments:
            log.warning("marked %d item and %d segment intents orphaned", len(rec.items), len(rec.segments))
        batcher = Batcher(ctx)
        batcher.start()
        retention = RetentionRunner(ctx)
        retention.start()
        _write_state(settings, state)
        if ready:
            ready(state)
        stop.wait()
    finally:
        settings.state_file.unlink(missing_ok=True)
        if retention:
            retention.stop()
        if batcher:
            batcher.stop()
        if ctx:
            ctx.close()
        if tsa_server:
            tsa_server.stop()
        if seaweed:
            seaweed.stop()
