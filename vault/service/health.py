"""Is the vault working? The checks behind ``vault status`` and ``/readyz``.

Each check says whether it is OK and why; a failing one also names its cause, and
``Health.cause`` gives the one line an operator reads first: "disk full", "credentials
refused", "the index does not answer", "the object store does not answer" (else the first
failing check). The object store is asked to take a write (``ObjectStore.probe_write``: one
fixed key, ``_health/probe``, deleted again), not only to answer: a full disk still answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from vault.config import Settings
from vault.errors import VaultError

#: a batcher whose heartbeat is older than this is reported as not running. It beats every
#: loop, but after failed sealing passes (a store or TSA outage) it waits up to 30 s between two
#: (vault/runtime/batcher.py): a shorter limit reported a waiting batcher as stopped
HEARTBEAT_MAX_AGE = 45.0

DISK_FULL = "disk full"
CREDENTIALS_REFUSED = "credentials refused"
INDEX_DOWN = "the index does not answer"
STORE_DOWN = "the object store does not answer"
#: causes, most telling first: a full disk also makes the store refuse writes and the index fail
CAUSES = (DISK_FULL, CREDENTIALS_REFUSED, INDEX_DOWN, STORE_DOWN)


@dataclass(frozen=True)
class Health:
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c["ok"] for c in self.checks.values())

    @property
    def cause(self) -> str | None:
        """Why the vault is not OK, in one line (None when it is)."""
        if self.ok:
            return None
        failing = {name: c for name, c in self.checks.items() if not c["ok"]}
        named = {c.get("cause") for c in failing.values()}
        for cause in CAUSES:
            if cause in named:
                return cause
        if not failing:
            return "no check ran"
        name, c = next(iter(failing.items()))
        return f"{name}: {c['detail']}"

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "cause": self.cause, "checks": self.checks}


def _failed(detail: str, cause: str | None = None) -> dict[str, Any]:
    return {"ok": False, "detail": detail, **({"cause": cause} if cause else {})}


def _store_cause(message: str) -> str | None:
    """The cause ``vault.storage.s3._err`` put first in a storage error's message, if any."""
    return next((cause for cause in CAUSES if message.startswith(cause)), None)


def disk_check(settings: Settings) -> dict[str, Any]:
    """Free space under ``$VAULT_HOME`` and under the embedded store's data folder.

    Not OK below 5 % of the file system or 1 GiB, whichever is more, but never more than 10 %
    of a small file system (``vault.storage.embedded.min_free_bytes``), with the figure.
    """
    from vault.storage.embedded import disk_space

    places = [("VAULT_HOME", settings.home)]
    store_data = settings.home / "s3" / "data"
    if store_data.is_dir():  # the embedded SeaweedFS keeps its volumes and filer store here
        places.append(("store data", store_data))
    seen: dict[int, tuple[list[str], Any]] = {}
    for label, path in places:
        space = disk_space(path)
        if space is None:
            return _failed(f"cannot read the free space under {path} ({label})")
        seen.setdefault(space.device, ([], space))[0].append(label)
    parts, low = [], []
    for labels, space in seen.values():
        text = f"{space.describe()} ({', '.join(labels)})"
        parts.append(text)
        if space.low:
            word = "disk full" if space.full else "disk almost full"
            low.append(f"{word}: {text}; the vault needs at least {_mib(space.minimum)} free")
    if low:
        return _failed("; ".join(low), DISK_FULL)
    return {"ok": True, "detail": "; ".join(parts)}


def _mib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"


def _last_audit(settings: Settings) -> dict[str, Any]:
    """The last scheduled completeness audit (run/audit.json): not ok when it found problems."""
    from vault.runtime.audit_runner import last_audit

    last = last_audit(settings.run_dir)
    if last is None:
        return {"ok": True, "detail": "no scheduled audit yet (run `vault audit`)"}
    if last.get("ok"):
        return {"ok": True, "detail": f"clean at {last.get('at')}"}
    return {
        "ok": False,
        "detail": f"{last.get('problems')} problem(s) at {last.get('at')}: {last.get('problems_by_kind')}; "
        "see docs/operations.md, 'A failed audit'",
        "cause": "the completeness audit found problems",
    }


def check(settings: Settings, ctx: Any = None, *, stamp_token: bool = True, write_probe: bool = True) -> Health:
    """Disk, index, object store (answers and takes a write), TSA, retention mode and batcher.
    With ``ctx`` None a context is opened from ``settings`` (the CLI); the API passes its own."""
    from vault.batch.sealer import pending_count
    from vault.config import read_state
    from vault.context import VaultContext
    from vault.errors import ServiceDown
    from vault.timestamp.client import stamp

    checks: dict[str, dict[str, Any]] = {}
    own = ctx is None
    checks["disk"] = disk_check(settings)
    if own:
        try:
            read_state(settings)
        except ServiceDown as e:
            checks["vault"] = {"ok": False, "detail": str(e)}
            return Health(checks)
        try:
            ctx = VaultContext.open(settings)
        except VaultError as e:
            from vault.errors import IndexError_

            checks["index"] = _failed(str(e), INDEX_DOWN if isinstance(e, IndexError_) else None)
            return Health(checks)
    try:
        try:
            pending = pending_count(ctx)
            checks["index"] = {"ok": True, "detail": ctx.info()["database"]}
        except Exception as e:  # a database that stopped answering
            pending = None
            checks["index"] = _failed(f"{INDEX_DOWN}: {type(e).__name__}", INDEX_DOWN)
        where = f"{ctx.settings.s3_endpoint} bucket {ctx.settings.bucket}"
        try:
            ctx.store.ping()
            if write_probe:
                took = ctx.store.probe_write()
                checks["object_store"] = {"ok": True, "detail": f"{where}, took a write in {took * 1000:.0f} ms"}
            else:
                checks["object_store"] = {"ok": True, "detail": where}
        except VaultError as e:
            cause = _store_cause(e.message)
            if cause is None and not checks["disk"]["ok"]:
                cause = DISK_FULL  # a store that refuses writes on a full disk: the disk is why
            checks["object_store"] = _failed(str(e), cause)
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
        checks["audit"] = _last_audit(settings)
    finally:
        if own:
            ctx.close()
    return Health(checks)
