"""A case to export: one session with a session log, a signed document and connection
metadata of the data subject, an erased item of another subject in the same session, and a
second session (another subject, other IP and device) that must not leak into the bundle."""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vault.access.principal import SYSTEM, Principal, Role
from vault.batch.sealer import seal_pending
from vault.context import VaultContext
from vault.export.selection import Selection
from vault.export.writer import ExportResult
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.service import subjects
from vault.service.deposit import deposit_records
from vault.service.exports import export

LEGAL = Principal("key:legal-test", Role.LEGAL, tenant="acme", key_id="legal-test")
DPO = Principal("key:dpo-test", Role.DPO, tenant="acme", key_id="dpo-test")
SESSION = "sess-2026-1104-0932"
ALICE = {"subject": "alice.martin@example.fr", "ip": "203.0.113.77", "device_id": "DEV-ALICE-7731", "user": "amartin"}
BOB = {"subject": "bob.durand@example.fr", "ip": "198.51.100.23", "device_id": "DEV-BOB-4410", "user": "bdurand"}
CAROL = {"subject": "carol.petit@example.fr", "ip": "192.0.2.191", "device_id": "DEV-CAROL-5522", "user": "cpetit"}
LOG = b"09:32:04 technician connected\n09:33:10 opened printer settings\n09:41:55 session closed\n"
DOC = b"%PDF-1.4 intervention order signed by the customer (test document)\n" * 8


@dataclass
class Case:
    ctx: VaultContext
    log: str = ""
    doc: str = ""
    record: str = ""
    erased: str = ""
    other: list[str] = field(default_factory=list)
    batches: set[int] = field(default_factory=set)

    @property
    def selected(self) -> list[str]:
        return [self.log, self.doc, self.record, self.erased]


def _file(ctx: VaultContext, session: str, kind: str, who: dict[str, str], data: bytes) -> str:
    meta = {"ip": who["ip"], "device_id": who["device_id"], "user": who["user"]}
    req = validate(tenant="acme", session=session, kind=kind, subject=who["subject"], meta=meta)
    return deposit_stream(ctx, io.BytesIO(data), req).item_id


def _record(ctx: VaultContext, session: str, who: dict[str, str]) -> str:
    rec = {"ip": who["ip"], "port": 5938, "device_id": who["device_id"], "user": who["user"], "event": "connect"}
    receipts = deposit_records(
        ctx, SYSTEM, [rec], tenant="acme", session=session, subject=who["subject"],
        create_tenant=True,
    )  # fmt: skip
    return receipts[0].item_id


def make_case(ctx: VaultContext) -> Case:
    """The items, sealed over two batches (so a bundle holds a chain), Carol's erased."""
    c = Case(ctx)
    c.record = _record(ctx, SESSION, ALICE)
    c.log = _file(ctx, SESSION, "session_log", ALICE, LOG)
    c.erased = _file(ctx, SESSION, "session_log", CAROL, b"carol's session log\n")
    c.other.append(_file(ctx, "sess-other", "session_log", BOB, b"bob's session log\n"))
    c.other.append(_record(ctx, "sess-other", BOB))
    seal_pending(ctx)
    c.doc = _file(ctx, SESSION, "signed_document", ALICE, DOC)
    seal_pending(ctx)
    subjects.erase(ctx, DPO, "acme", CAROL["subject"])
    seal_pending(ctx)  # the destruction record is sealed too
    return c


def export_case(ctx: VaultContext, out: Path, **changes: object) -> ExportResult:
    sel = Selection(tenant="acme", case="RG 24/01234", sessions=(SESSION,), disclose=("ip",))
    if changes:
        from dataclasses import replace

        sel = replace(sel, **changes)  # type: ignore[arg-type]
    return export(ctx, LEGAL, sel, out)


def require_tool(name: str, package: str) -> str:
    """The program's path; a missing one skips the test, naming the package (fails under CI=true)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"CI=true: {name} is required: apt-get install {package}")
        pytest.skip(f"needs {name}: apt-get install {package}")
    return path
