"""The scheduled archive-timestamp renewal of ``vault up`` (RFC 4998 5.2, 5.3): every
``renew_interval_hours``, renew what is due (docs/long-term.md). A run with nothing due only
reads the index; a TSA outage is logged and retried at the next run (the margin is years)."""

from __future__ import annotations

import logging

from vault.context import VaultContext
from vault.runtime.periodic import PeriodicJob

log = logging.getLogger("vault.renewal")


class RenewRunner(PeriodicJob):
    name = "renewal"

    def __init__(self, ctx: VaultContext, *, first_delay: float = 120.0) -> None:
        hours = ctx.settings.renew_interval_hours
        super().__init__(hours * 3600.0 if hours > 0 else 0, first_delay)
        self.ctx = ctx

    def run_once(self) -> object:
        from vault.renewal.run import renew

        result = renew(self.ctx)
        for r in result.hash_renewals + result.timestamp_renewals:
            log.info("%s renewal %s: %s leaves, TSA valid to %s", r["kind"], r["seq"], r["leaves"], r["tsa_not_after"])
        return result
