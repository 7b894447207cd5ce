"""The batcher's age rule runs on real (monotonic) time, whatever the vault clock says, so a
drill with VAULT_CLOCK in the past or the future still seals on time."""

from __future__ import annotations

import datetime as dt
import io
import time
from dataclasses import replace

import pytest
from sqlalchemy import select

from conftest import open_ctx
from vault.clock import FixedClock
from vault.config import Settings
from vault.index.models import Item, SubjectKey
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.runtime.batcher import Batcher


@pytest.mark.parametrize("year", [2001, 2090])
def test_batch_due_after_batch_max_seconds_with_a_frozen_clock(settings: Settings, year: int) -> None:
    ctx = open_ctx(replace(settings, batch_max_seconds=0.4, batch_max_items=1000, drill_lock_seconds=5))
    try:
        ctx.clock = FixedClock(dt.datetime(year, 1, 1, tzinfo=dt.UTC))
        batcher = Batcher(ctx)
        assert batcher.due() is False  # nothing pending
        deposit_stream(ctx, io.BytesIO(b"x"), validate(tenant="acme", session="s", kind="session_log"))
        assert batcher.due() is False  # just seen: not yet due, although its times are far off
        time.sleep(0.45)
        assert batcher.due() is True
    finally:
        ctx.close()


def test_batch_due_at_batch_max_items(settings: Settings) -> None:
    ctx = open_ctx(replace(settings, batch_max_seconds=3600, batch_max_items=3))
    try:
        batcher = Batcher(ctx)
        deposit_stream(ctx, io.BytesIO(b"x"), validate(tenant="acme", session="s", kind="session_log"))
        # one item and its deposit journal entry: 2 leaves pending
        assert batcher.due() is False
        deposit_stream(ctx, io.BytesIO(b"y"), validate(tenant="acme", session="s", kind="session_log"))
        assert batcher.due() is True
    finally:
        ctx.close()


def test_a_clock_in_the_past_without_drill_mode_is_a_clear_error(settings: Settings) -> None:
    from vault.errors import ConfigError

    ctx = open_ctx(settings)
    try:
        ctx.clock = FixedClock(dt.datetime(2001, 1, 1, tzinfo=dt.UTC))
        with pytest.raises(ConfigError, match="already past in real time"):
            deposit_stream(ctx, io.BytesIO(b"x"), validate(tenant="acme", session="s", kind="session_log"))
        with ctx.sessions() as s:  # nothing written: no intent, no object, no data key
            assert s.scalars(select(Item)).all() == [] and s.scalars(select(SubjectKey)).all() == []
        assert ctx.store.client.list_object_versions(Bucket=ctx.store.bucket).get("Versions", []) == []
    finally:
        ctx.close()
