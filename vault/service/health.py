"""Is the vault working? The checks behind ``vault status`` and ``/readyz``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from vault.config import Settings
from vault.errors import VaultError

#: a batcher whose heartbeat is older than this is reported as not running
HEARTBEAT_MAX_AGE = 10.0


@dataclass(frozen=True)
class Health:
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c["ok"] for c in self.checks.values())

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": self.checks}


def check(settings: Settings, ctx: Any = None, *, stamp_token: bool = True) -> Health:
    """Index, object store, TSA, retention mode and batcher. With ``ctx`` None a context is
    opened from ``settings`` (the CLI); the API passes its own."""
    from vault.batch.sealer import pending_count
    from vault.config import read_state
    from vault.context import VaultContext
    from vault.errors import ServiceDown
    from vault.timestamp.client import stamp

    checks: dict[str, dict[str, Any]] = {}
    own = ctx is None
    if own:
        try:
            read_state(settings)
        except ServiceDown as e:
            checks["vault"] = {"ok": False, "detail": str(e)}
            return Health(checks)
        try:
            ctx = VaultContext.open(settings)
        except VaultError as e:
            checks["index"] = {"ok": False, "detail": str(e)}
            return Health(checks)
    try:
        try:
            pending = pending_count(ctx)
            checks["index"] = {"ok": True, "detail": ctx.info()["database"]}
        except Exception as e:  # a database that stopped answering
            pending = None
            checks["index"] = {"ok": False, "detail": f"the index does not answer: {type(e).__name__}"}
        try:
            ctx.store.ping()
            checks["object_store"] = {"ok": True, "detail": f"{ctx.settings.s3_endpoint} bucket {ctx.settings.bucket}"}
        except VaultError as e:
            checks["object_store"] = {"ok": False, "detail": str(e)}
        if stamp_token:
            try:
                tok = stamp(ctx.tsas, b"\x00" * 32)
                checks["tsa"] = {"ok": True, "detail": f"{tok.tsa_url} answered, token verified"}
            except VaultError as e:
                checks["tsa"] = {"ok": False, "detail": str(e)}
        checks["retention"] = (
            {
                "ok": False,
                "detail": f"DRILL MODE: drill_lock_seconds = {settings.drill_lock_seconds:g}, new locks last "
                "seconds, not their retention (drills and tests only)",
            }
            if settings.drill_lock_seconds > 0
            else {"ok": True, "detail": f"policy {ctx.policy.source}, locks {settings.lock_mode}"}
        )
        hb = settings.run_dir / "batcher.heartbeat"
        try:
            age = dt.datetime.now(dt.UTC).timestamp() - float(hb.read_text())
            checks["batcher"] = {
                "ok": age < HEARTBEAT_MAX_AGE,
                "detail": f"last heartbeat {age:.1f}s ago, "
                + (f"{pending} item(s) pending" if pending is not None else "pending count unknown"),
            }
        except (OSError, ValueError):
            checks["batcher"] = {"ok": False, "detail": "no heartbeat"}
    finally:
        if own:
            ctx.close()
    return Health(checks)
