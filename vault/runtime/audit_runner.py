"""The scheduled completeness audit of ``vault up``, every ``audit_interval_hours`` (0 = only
when someone runs ``vault audit``). Its last result is kept in ``run/audit.json``, where
``/readyz`` and ``vault status`` read it."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vault.access.principal import SYSTEM
from vault.context import VaultContext
from vault.runtime.periodic import PeriodicJob

log = logging.getLogger("vault.audit")


def last_audit(run_dir: Path) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads((run_dir / "audit.json").read_text())
        return doc
    except (OSError, ValueError):
        return None


class AuditRunner(PeriodicJob):
    name = "audit"

    def __init__(
        self,
        ctx: VaultContext,
        *,
        first_delay: float = 120.0,
        on_result: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__(ctx.settings.audit_interval_hours * 3600, first_delay)
        self.ctx = ctx
        self.on_result = on_result

    def run_once(self) -> dict[str, Any]:
        from vault.service.audit import audit

        report = audit(self.ctx, SYSTEM)
        doc = report.as_json()
        summary = {
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "ok": report.ok,
            "problems": len(report.problems),
            "problems_by_kind": doc["problems_by_kind"],
            "first_problems": doc["problems"][:20],
            "seconds": doc["seconds"],
        }
        path = self.ctx.settings.run_dir / "audit.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, path)
        if self.on_result:
            self.on_result(summary)
        (log.info if report.ok else log.error)(
            "audit %s: %d problem(s) %s",
            "clean" if report.ok else "FAILED",
            len(report.problems),
            doc["problems_by_kind"],
        )
        return summary
