"""A crash between the object write and the index commit; bad input leaves nothing behind."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import run_cli
from vault.batch.sealer import seal_pending
from vault.config import Settings
from vault.context import VaultContext
from vault.errors import InputError
from vault.index.models import Item, Segment
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.ingest.records import deposit_records
from vault.runtime.recovery import recover_intents
from vault.verify.online import verify_item


def _objects(ctx: VaultContext, prefix: str = "") -> list[dict]:  # type: ignore[type-arg]
    r = ctx.store.client.list_object_versions(Bucket=ctx.store.bucket, Prefix=prefix)
    return list(r.get("Versions", []))


@pytest.mark.parametrize(
    ("kind", "point", "payload"),
    [
        ("session_log", "after-object-write", b"payload of a deposit that crashes"),
        (
            "connection_metadata",
            "after-segment-write",
            json.dumps([{"ip": "203.0.113.9"}, {"ip": "203.0.113.10"}]).encode(),
        ),
    ],
)
def test_crash_after_object_write_loses_nothing_acknowledged(
    ctx: VaultContext, settings: Settings, tmp_path: Path, kind: str, point: str, payload: bytes
) -> None:
    before = deposit_stream(
        ctx, io.BytesIO(b"acknowledged before the crash"), validate(tenant="acme", session="s", kind="session_log")
    )
    f = tmp_path / "payload"
    f.write_bytes(payload)
    r = run_cli(settings, "deposit", str(f), "--tenant", "acme", "--session", "s", "--kind", kind, "--json",
                env={"VAULT_FAULT_INJECT": point})  # fmt: skip
    assert r.returncode == 70, r.stderr
    assert b'"id"' not in r.stdout  # the client never got an acknowledgement
    # ...although its bytes reached the store (beside the first deposit's payload and manifest)
    assert len(_objects(ctx, "t/acme/")) == 3

    with ctx.sessions() as s:
        states = dict(s.execute(select(Item.state, func.count()).group_by(Item.state)).all())  # type: ignore[arg-type]
        open_segments = s.scalar(select(func.count()).select_from(Segment).where(Segment.state == "writing"))
    if kind == "session_log":
        assert states == {"stored": 1, "writing": 1}
    else:
        assert states == {"stored": 1} and open_segments == 1

    [batch] = seal_pending(ctx)
    assert batch.items == 1  # the orphan is never counted as evidence
    assert verify_item(ctx, before.item_id).valid

    from datetime import timedelta

    rec = recover_intents(ctx, older_than=timedelta(0))
    assert len(rec.items) + len(rec.segments) == 1
    with ctx.sessions() as s:
        orphan = s.scalars(select(Item).where(Item.state == "orphaned")).first()
    if orphan is not None:
        report = verify_item(ctx, orphan.id)
        assert not report.valid and "not evidence" in report.checks[0].detail


def test_bad_input_is_refused_and_writes_nothing(ctx: VaultContext) -> None:
    with pytest.raises(InputError, match="unknown kind"):
        validate(tenant="acme", session="s", kind="screenshot")
    with pytest.raises(InputError, match="invalid tenant"):
        validate(tenant="../etc", session="s", kind="session_log")
    with pytest.raises(InputError, match="reserved"):
        validate(tenant="acme", session="s", kind="session_log", meta={"subject": "mallory"})
    with pytest.raises(InputError, match="field names"):
        validate(tenant="acme", session="s", kind="session_log", meta={"ip addr": "x"})
    with pytest.raises(InputError, match="unknown purpose"):
        validate(tenant="acme", session="s", kind="session_log", purpose="marketing")
    req = validate(tenant="acme", session="s", kind="connection_metadata")
    with pytest.raises(InputError, match="non-empty JSON object"):
        deposit_records(ctx, [(req, {"ip": "192.0.2.1"}), (req, ["not", "an", "object"])])  # type: ignore[list-item]
    with pytest.raises(InputError):
        deposit_stream(ctx, io.BytesIO(b"{}"), req)
    assert _objects(ctx) == []
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 0


def test_cli_bad_input_gives_one_line_and_exit_2(settings: Settings, ctx: VaultContext, tmp_path: Path) -> None:
    f = tmp_path / "x.json"
    f.write_text("not json at all {")
    r = run_cli(settings, "deposit", str(f), "--tenant", "acme", "--session", "s", "--kind", "connection_metadata")
    assert r.returncode == 2
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    r = run_cli(settings, "deposit", str(f), "--tenant", "acme", "--session", "s", "--kind", "nope")
    assert r.returncode == 2 and b"unknown kind" in r.stderr
    r = run_cli(settings, "verify", "ev_doesnotexist")
    assert r.returncode == 2 and b"no such item" in r.stderr
    assert _objects(ctx) == []


def test_cli_odd_input_never_gives_a_traceback(settings: Settings, ctx: VaultContext, tmp_path: Path) -> None:
    cases = {
        "latin1.json": '{"ip": "caf\xe9"}'.encode("latin-1"),
        "empty-list.json": b"[]",
        "nan.json": b'{"ip": NaN}',
        "list-of-lists.json": b"[[1, 2]]",
    }
    for name, data in cases.items():
        f = tmp_path / name
        f.write_bytes(data)
        r = run_cli(
            settings, "deposit", str(f), "--tenant", "acme", "--session", "s", "--kind", "connection_metadata", "--json"
        )
        err = r.stderr.decode()
        assert r.returncode == 2, (name, r.stdout, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and err.startswith("error:"), (name, err)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = run_cli(settings, "proof", "ev_00000000000000000000000000", "--out", str(blocker / "sub"))
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    r = run_cli(settings, "recover", "--older-than", "nan")
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    assert _objects(ctx) == []


def test_a_deposit_given_up_by_recovery_is_never_acknowledged(ctx: VaultContext) -> None:
    """Recovery may run while a slow upload is still going: the late deposit must fail, not
    turn its orphaned intent back into acknowledged evidence."""
    from datetime import timedelta

    from vault.errors import VaultError

    real_put = ctx.store.put

    def slow_put(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real_put(*args, **kwargs)
        recover_intents(ctx, older_than=timedelta(0))  # an operator's `vault recover --older-than 0`
        return result

    ctx.store.put = slow_put  # type: ignore[method-assign]
    with pytest.raises(VaultError, match="abandoned"):
        deposit_stream(ctx, io.BytesIO(b"late"), validate(tenant="acme", session="s", kind="session_log"))
    req = validate(tenant="acme", session="s", kind="connection_metadata")
    with pytest.raises(VaultError, match="abandoned"):
        deposit_records(ctx, [(req, {"ip": "192.0.2.1"})])
    ctx.store.put = real_put  # type: ignore[method-assign]
    with ctx.sessions() as s:
        states = dict(s.execute(select(Item.state, func.count()).group_by(Item.state)).all())  # type: ignore[arg-type]
        segs = s.scalars(select(Segment.state)).all()
    assert states == {"orphaned": 1} and segs == ["orphaned"]
    assert seal_pending(ctx) == []
