"""Litigation exports (legal role only; any other role is told "not found").

``vault export`` writes the bundle where it is told. Over the API an export can take minutes,
so ``POST /v1/exports`` checks the request, starts the export in a worker thread and answers
at once; ``GET /v1/exports/{id}`` reports progress, then serves the zip. A job is a pair of
files in ``exports_dir`` (``<id>.json`` for its state, ``<id>.zip``), so every API worker of
the host sees it. Bundles hold disclosed personal data: they are deleted a day after they were
made (:data:`KEEP`), and the journal, not this folder, is the record that an export was made.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path
from typing import Any

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal
from vault.context import VaultContext
from vault.errors import Conflict, NotFound, VaultError
from vault.evidence.manifest import iso
from vault.export.selection import Selection
from vault.export.writer import ExportResult, Progress, new_export_id, select_items, write_export
from vault.service.result import Result

#: how long a finished bundle made over the API stays on the host
KEEP = dt.timedelta(hours=24)
#: a running job whose state file has not moved for this long lost its worker
STALE = dt.timedelta(minutes=10)


def export(
    ctx: VaultContext, who: Principal, sel: Selection, out: Path, progress: Progress | None = None
) -> ExportResult:
    """Write the bundle to ``out`` (the CLI): checked, sealed, timestamped and journalled."""
    authorize(who, Op.EXPORT, tenant=sel.tenant)
    if out.exists():
        raise Conflict("the output file exists", detail=str(out))
    return write_export(ctx, who, sel, out, progress)


# -- jobs (the API) --------------------------------------------------------------------------


def _state_path(ctx: VaultContext, export_id: str) -> Path:
    if not export_id.startswith("exp_") or not export_id[4:].isalnum() or len(export_id) > 40:
        raise NotFound("no such export", detail=export_id[:60])
    return ctx.settings.exports_dir / f"{export_id}.json"


def _write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".json.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def _cleanup(ctx: VaultContext) -> None:
    """Delete bundles and states older than :data:`KEEP`."""
    folder = ctx.settings.exports_dir
    if not folder.is_dir():
        return
    limit = (ctx.now() - KEEP).timestamp()
    for p in folder.iterdir():
        try:
            if p.stat().st_mtime < limit:
                p.unlink()
        except OSError:
            pass


def start(ctx: VaultContext, who: Principal, sel: Selection) -> Result:
    """Check the request (a bad selection answers now, not later) and start the export."""
    authorize(who, Op.EXPORT, tenant=sel.tenant)
    total = len(select_items(ctx, sel))
    folder = ctx.settings.exports_dir
    folder.mkdir(parents=True, exist_ok=True)
    _cleanup(ctx)
    export_id = new_export_id(ctx.now())
    state_path = _state_path(ctx, export_id)
    state: dict[str, Any] = {
        "id": export_id,
        "tenant": sel.tenant,
        "case": sel.case,
        "actor": who.actor,
        "state": "running",
        "done": 0,
        "total": total,
        "created_at": iso(ctx.now()),
    }
    _write_state(state_path, state)

    def progress(done: int, of: int) -> None:
        _write_state(state_path, {**state, "done": done, "total": of})

    def run() -> None:
        try:
            result = write_export(ctx, who, sel, folder / f"{export_id}.zip", progress, export_id=export_id)
            _write_state(state_path, {**state, "state": "done", "done": total, **result.as_json()})
        except VaultError as e:
            error = {"status": e.http_status, "code": e.code, "title": e.title, "detail": str(e)}
            _write_state(state_path, {**state, "state": "failed", "error": error})
        except Exception as e:
            _write_state(
                state_path,
                {
                    **state,
                    "state": "failed",
                    "error": {"status": 500, "code": "vault-error", "title": "Export failed", "detail": str(e)},
                },
            )

    threading.Thread(target=run, name=f"export-{export_id}", daemon=True).start()
    return Result(
        {k: state[k] for k in ("id", "state", "done", "total", "case")} | {"href": f"/v1/exports/{export_id}"}
    )


def status(ctx: VaultContext, who: Principal, export_id: str) -> tuple[dict[str, Any], Path | None]:
    """The job's state, and the bundle's path once it is done. Another tenant's export, or
    any export for a role other than legal, is "not found"."""
    authorize(who, Op.EXPORT)
    path = _state_path(ctx, export_id)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        raise NotFound("no such export", detail=export_id) from None
    authorize(who, Op.EXPORT, tenant=str(state.get("tenant")))
    if state.get("state") == "running":
        moved = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        if ctx.now() - moved > STALE:
            state = {
                **state,
                "state": "failed",
                "error": {
                    "status": 500,
                    "code": "vault-error",
                    "title": "Export interrupted",
                    "detail": "start it again",
                },
            }
    zip_path = ctx.settings.exports_dir / f"{export_id}.zip"
    return state, zip_path if state.get("state") == "done" and zip_path.is_file() else None
