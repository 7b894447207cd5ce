"""The scheduled retention run of ``vault up``: the vault keeps its retention promises by
itself, every ``retention_interval_hours`` (0 = only when an operator runs
``vault retention apply``). A failed or refused deletion is retried at the next run."""

from __future__ import annotations

import logging

from vault.context import VaultContext
from vault.retention.apply import RunResult, apply_retention
from vault.runtime.periodic import PeriodicJob

log = logging.getLogger("vault.retention")


class RetentionRunner(PeriodicJob):
    name = "retention"

    def __init__(self, ctx: VaultContext, *, first_delay: float = 60.0) -> None:
        super().__init__(ctx.settings.retention_interval_hours * 3600, first_delay)
        self.ctx = ctx

    def run_once(self) -> RunResult:
        r = apply_retention(self.ctx)
        log.info(
            "retention run: %d destroyed, %d archived, %d failed, %d kept; orphaned objects: %d deleted, %d pending",
            len(r.destroyed),
            len(r.archived),
            len(r.failed),
            r.kept,
            len(r.orphans_deleted),
            len(r.orphans_pending),
        )
        return r
