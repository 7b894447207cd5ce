"""The batcher loop: seal every ``batch_max_items`` items or ``batch_max_seconds`` seconds.

A TSA outage only delays sealing: the items stay pending and the loop retries with a
capped exponential back-off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import func, select

from vault.batch.sealer import seal_pending
from vault.context import VaultContext
from vault.errors import TSAUnavailable, VaultError
from vault.index.models import Item, JournalEntry

log = logging.getLogger("vault.batcher")


class Batcher:
    def __init__(
        self,
        ctx: VaultContext,
        *,
        tick: float = 0.25,
        on_sealed: Callable[[float], None] | None = None,
        on_tsa_error: Callable[[], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.tick = tick
        #: metrics hooks: seconds per sealed batch; a failed time-stamping
        self.on_sealed = on_sealed
        self.on_tsa_error = on_tsa_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="batcher", daemon=True)
        self.heartbeat = ctx.settings.run_dir / "batcher.heartbeat"
        self.last_error: str | None = None
        self._pending_since: float | None = None

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _beat(self) -> None:
        """The heartbeat `vault status` reads; a full disk must not kill the loop."""
        try:
            self.heartbeat.write_text(str(time.time()))
        except OSError as e:
            self.last_error = f"heartbeat not written: {e.strerror or e}"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def due(self) -> bool:
        """A batch is due at ``batch_max_items`` pending leaves, or ``batch_max_seconds`` after
        this loop first saw pending work. Measured on this process's monotonic clock, not on
        the records' times, which come from the vault clock (settable for drills)."""
        with self.ctx.sessions() as s:
            count = s.scalar(select(func.count()).select_from(Item).where(Item.state == "stored")) or 0
            entries = (
                s.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.batch_seq.is_(None))) or 0
            )
        if not count and not entries:
            self._pending_since = None
            return False
        if count + entries >= self.ctx.settings.batch_max_items:
            return True
        now = time.monotonic()
        if self._pending_since is None:
            self._pending_since = now
        return now - self._pending_since >= self.ctx.settings.batch_max_seconds

    def _run(self) -> None:
        backoff = self.tick
        while not self._stop.is_set():
            self._beat()
            try:
                if self.due():
                    started = time.monotonic()
                    sealed = seal_pending(self.ctx)
                    for b in sealed:
                        log.info("batch %d sealed: %d items via %s", b.seq, b.items, b.tsa_url)
                        if self.on_sealed:
                            self.on_sealed((time.monotonic() - started) / len(sealed))
                    self._pending_since = None
                self.last_error = None
                backoff = self.tick
            except TSAUnavailable as e:
                self.last_error = str(e)
                log.warning("no TSA answered, items stay pending: %s", e)
                if self.on_tsa_error:
                    self.on_tsa_error()
                backoff = min(backoff * 2, 30.0)
            except VaultError as e:
                self.last_error = str(e)
                log.error("batch failed, will retry: %s", e)
                backoff = min(backoff * 2, 30.0)
            except Exception as e:
                self.last_error = repr(e)
                log.exception("batcher error, will retry")
                backoff = min(backoff * 2, 30.0)
            self._stop.wait(backoff)
