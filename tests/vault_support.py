"""Small helpers shared by the retention and privacy tests: deposit, look up, count."""

from __future__ import annotations

import io
import time
from typing import Any

from sqlalchemy import MetaData, func, select

from vault.context import VaultContext
from vault.index.models import Item, JournalEntry
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.ingest.records import deposit_records
from vault.journal.entry import parse_body
from vault.verify.online import load_item

#: real seconds of every Object Lock in drill mode (``drill_lock_seconds``)
DRILL = 1.0


def wait_for_drill_locks() -> None:
    time.sleep(DRILL + 1.5)  # locks end at a whole second at most DRILL + 1 s after the write


def rec(
    ctx: VaultContext,
    subject: str,
    fields: dict[str, Any],
    *,
    tenant: str = "acme",
    session: str = "s1",
    purpose: str | None = None,
) -> str:
    req = validate(tenant=tenant, session=session, kind="connection_metadata", purpose=purpose, subject=subject)
    [receipt] = deposit_records(ctx, [(req, fields)])
    return receipt.item_id


def put_file(
    ctx: VaultContext,
    subject: str,
    data: bytes,
    *,
    tenant: str = "acme",
    session: str = "s1",
    kind: str = "session_log",
    purpose: str | None = None,
    meta: dict[str, Any] | None = None,
) -> str:
    req = validate(tenant=tenant, session=session, kind=kind, purpose=purpose, subject=subject, meta=meta)
    return deposit_stream(ctx, io.BytesIO(data), req).item_id


def item(ctx: VaultContext, item_id: str) -> Item:
    return load_item(ctx, item_id)[0]


def journal(ctx: VaultContext, action: str) -> list[dict[str, Any]]:
    with ctx.sessions() as s:
        rows = s.scalars(select(JournalEntry).where(JournalEntry.action == action).order_by(JournalEntry.seq)).all()
        return [parse_body(e.body) for e in rows]


def count(ctx: VaultContext, model: Any, *where: Any) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def bucket_objects(ctx: VaultContext) -> dict[str, bytes]:
    """Every object version (and nothing else) in the test's bucket."""
    client: Any = ctx.store.client
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=ctx.store.bucket):
        for v in page.get("Versions", []):
            body = client.get_object(Bucket=ctx.store.bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
            found[f"{v['Key']}@{v['VersionId']}"] = body
    return found


def index_rows(ctx: VaultContext) -> dict[str, bytes]:
    """Every row of every table of the index, each value as bytes (text UTF-8 encoded)."""
    meta = MetaData()
    meta.reflect(bind=ctx.engine)
    found: dict[str, bytes] = {}
    with ctx.engine.connect() as c:
        for table in meta.sorted_tables:
            for n, row in enumerate(c.execute(select(table))):
                for col, value in row._mapping.items():
                    if value is None:
                        continue
                    raw = bytes(value) if isinstance(value, bytes | bytearray | memoryview) else str(value).encode()
                    found[f"{table.name}[{n}].{col}"] = raw
    return found
