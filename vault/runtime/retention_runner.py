"""The scheduled retention run of ``vault up``: the vault keeps its retention promises by
itself, every ``retention_interval_hours`` (0 = only when an operator runs
``vault retention apply``). A failed or refused deletion is retried at the next run."""

from __future__ import annotations

import logging
import threading

from vault.context import VaultContext
from vault.retention.apply import apply_retention

log = logging.getLogger("vault.retention")


class RetentionRunner:
    def __init__(self, ctx: VaultContext, *, first_delay: float = 60.0) -> None:
        self.ctx = ctx
        self.interval = ctx.settings.retention_interval_hours * 3600
        self.first_delay = first_delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> None:
        if self.interval > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def _run(self) -> None:
        wait = self.first_delay
        while not self._stop.wait(wait):
            wait = self.interval
            try:
                r = apply_retention(self.ctx)
                log.info(
                    "retention run: %d destroyed, %d archived, %d failed, %d kept",
                    len(r.destroyed),
                    len(r.archived),
                    len(r.failed),
                    r.kept,
                )
            except Exception:
                log.exception("retention run failed; retried at the next interval")
