"""A job ``vault up`` runs by itself every few hours, in a thread (retention, audit)."""

from __future__ import annotations

import logging
import threading


class PeriodicJob:
    """Calls :meth:`run_once` after ``first_delay`` seconds, then every ``interval`` seconds
    (0 = never by itself); a failed run is logged and retried at the next interval."""

    name = "job"

    def __init__(self, interval: float, first_delay: float) -> None:
        self.interval = interval
        self.first_delay = first_delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._log = logging.getLogger(f"vault.{self.name}")

    def start(self) -> None:
        if self.interval > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def run_once(self) -> object:
        raise NotImplementedError

    def _run(self) -> None:
        wait = self.first_delay
        while not self._stop.wait(wait):
            wait = self.interval
            try:
                self.run_once()
            except Exception:
                self._log.exception("%s failed; retried at the next interval", self.name)
