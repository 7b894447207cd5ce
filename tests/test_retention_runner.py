"""`vault up` keeps the retention promises by itself: its scheduled run destroys what is due."""

from __future__ import annotations

import datetime as dt
import io
import time
from dataclasses import replace

from sqlalchemy import select

from conftest import open_ctx
from vault.batch.sealer import seal_pending
from vault.clock import FixedClock
from vault.config import Settings
from vault.index.models import Item, JournalEntry
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.retention.contract import create_tenant, end_service
from vault.runtime.retention_runner import RetentionRunner


def test_scheduled_run_destroys_what_is_due(settings: Settings) -> None:
    ctx = open_ctx(replace(settings, drill_lock_seconds=1.0, retention_interval_hours=1 / 3600))
    try:
        ctx.clock = clock = FixedClock(dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
        create_tenant(ctx, "acme")
        req = validate(tenant="acme", session="s", kind="session_log", subject="eve")
        item_id = deposit_stream(ctx, io.BytesIO(b"log line"), req).item_id
        seal_pending(ctx)
        clock.at = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
        end_service(ctx, "acme", dt.date(2024, 3, 31))
        clock.at = dt.datetime(2025, 4, 2, tzinfo=dt.UTC)
        time.sleep(1.2)  # the drill locks expire
        runner = RetentionRunner(ctx, first_delay=0.1)
        runner.start()
        deadline = time.time() + 20
        disposal = None
        while time.time() < deadline and disposal != "destroyed":
            time.sleep(0.3)
            with ctx.sessions() as s:
                disposal = s.scalars(select(Item.disposal).where(Item.id == item_id)).one()
        runner.stop()
        assert disposal == "destroyed"
        with ctx.sessions() as s:
            runs = s.scalars(select(JournalEntry).where(JournalEntry.action == "retention_run")).all()
        assert runs and runs[0].actor == "vault"
    finally:
        ctx.close()


def test_interval_zero_never_runs(settings: Settings) -> None:
    ctx = open_ctx(replace(settings, retention_interval_hours=0))
    try:
        runner = RetentionRunner(ctx, first_delay=0)
        runner.start()
        assert not runner._thread.is_alive()
        runner.stop()
    finally:
        ctx.close()
