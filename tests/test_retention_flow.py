"""The issue's acceptance walk-through through the CLI, against real SeaweedFS and the TSA,
with the vault's clock set (VAULT_CLOCK) and short real Object Lock durations
(VAULT_DRILL_LOCK_SECONDS), on SQLite or PostgreSQL as the fixture gives."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from conftest import run_cli, write_config
from vault.cli import app
from vault.config import Settings
from vault.context import VaultContext
from vault.index.models import Item, SubjectKey

DEPOSIT_CLOCK = "2024-06-01T10:00:00Z"
DRILL = "2"


def cli(settings: Settings, *args: str, clock: str | None = None, ok: tuple[int, ...] = (0,)) -> Any:
    """The `vault` command in-process (the CLI's own code, argument parsing to exit code),
    which keeps this file fast; `run_cli` below runs the real subprocess where it matters."""
    write_config(settings)
    env = {"VAULT_HOME": str(settings.home), "VAULT_DRILL_LOCK_SECONDS": DRILL, "VAULT_CLOCK": clock}
    r = CliRunner().invoke(app, list(args), env=env)
    assert r.exit_code in ok, f"vault {' '.join(args)} -> {r.exit_code}\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout) if "--json" in args else r.stdout


def deposit_both(settings: Settings, tmp_path: Path, subject: str = "alice", session: str = "s1") -> tuple[str, str]:
    rec = tmp_path / f"{subject}-{session}-conn.json"
    rec.write_text(json.dumps({"ip": "203.0.113.7", "port": 443}))
    doc = tmp_path / f"{subject}-{session}-proof.bin"
    doc.write_bytes(b"signature of the intervention report by " + subject.encode())
    common = ("--tenant", "acme", "--session", session, "--subject", subject, "--json")
    cm = cli(settings, "deposit", str(rec), "--kind", "connection_metadata", *common, clock=DEPOSIT_CLOCK)["id"]
    tp = cli(settings, "deposit", str(doc), "--kind", "transaction_proof", *common, clock=DEPOSIT_CLOCK)["id"]
    return cm, tp


def versions_left(ctx: VaultContext, key: str) -> list[tuple[str, bool]]:
    return ctx.store.versions(key) + ctx.store.versions(key + ".manifest.json")


def wait_for_drill_locks() -> None:
    time.sleep(float(DRILL) + 1.5)


def test_operational_data_is_destroyed_12_months_after_end_of_service_and_proofs_stay(
    settings: Settings, ctx: VaultContext, tmp_path: Path
) -> None:
    cli(settings, "tenant", "create", "acme", "--proof-years", "15", clock=DEPOSIT_CLOCK)
    cm, tp = deposit_both(settings, tmp_path)
    cli(settings, "seal", clock=DEPOSIT_CLOCK)

    # before the end of service is known, nothing operational is due, even years later
    plan = cli(settings, "retention", "plan", "--at", "2030-01-01", "--json")
    kept = {k["id"]: k for k in plan["kept"]}
    assert plan["due"] == [] and kept[cm]["retain_until"] is None
    assert "service has not ended" in kept[cm]["reason"]

    cli(settings, "tenant", "end-service", "acme", "--date", "2025-01-01")
    plan = cli(settings, "retention", "plan", "--json")
    due = {d["id"]: d for d in plan["due"]}
    kept = {k["id"]: k for k in plan["kept"]}
    assert set(due) == {cm}
    assert due[cm]["rule"] == "12 months after end of service" and due[cm]["purpose"] == "support"
    assert due[cm]["retain_until"] == "2026-01-02T00:00:00.000000Z"
    assert kept[tp]["retain_until"] == "2039-06-01T10:00:00.000000Z"  # >= 15 years after the deposit
    assert "contract proof period" in kept[tp]["reason"]
    # the simulation changed nothing
    with ctx.sessions() as s:
        assert s.scalars(select(Item.disposal).where(Item.id == cm)).one() is None
    # a plan on the eve of the date keeps it
    eve = cli(settings, "retention", "plan", "--at", "2026-01-01", "--json")
    assert cm in {k["id"] for k in eve["kept"]}

    with ctx.sessions() as s:
        item = s.scalars(select(Item).where(Item.id == cm)).one()
        key_id = item.subject_key_id
        object_key = item.object_key
    assert [v for v, marker in versions_left(ctx, object_key) if not marker]

    wait_for_drill_locks()
    result = cli(settings, "retention", "apply", "--json")
    assert [d["id"] for d in result["destroyed"]] == [cm]
    assert result["destroyed"][0]["rule"] == "12 months after end of service"
    assert result["failed"] == [] and result["keys_destroyed"] == 1
    assert versions_left(ctx, object_key) == []  # no version, no delete marker
    with ctx.sessions() as s:
        key = s.get(SubjectKey, key_id)
        assert key is not None and key.wrapped_key is None and key.destroyed_at is not None

    report = cli(settings, "verify", cm, "--json", ok=(3,))
    assert report["status"] == "destroyed"
    assert report["rule"] == "12 months after end of service"
    assert {c["name"]: c["ok"] for c in report["checks"]}["destruction_record"] is True
    assert all(c["ok"] for c in report["checks"]), report["checks"]
    proof = cli(settings, "verify", tp, "--json")
    assert proof["status"] == "valid"

    # a second run finds nothing more to do
    again = cli(settings, "retention", "apply", "--json")
    assert again["destroyed"] == [] and again["failed"] == []

    journal = cli(settings, "journal", "--json")["entries"]
    actions = [e["action"] for e in journal]
    for a in ("tenant_create", "deposit", "end_service", "destroy", "key_destroyed", "retention_run", "verify"):
        assert a in actions, actions
    destroy = next(e for e in journal if e["action"] == "destroy")
    assert destroy["details"]["items"][0]["id"] == cm and destroy["batch"] is not None
    assert cli(settings, "journal", "verify", "--json")["status"] == "valid"


def test_a_live_object_lock_wins_over_the_vault_clock(settings: Settings, ctx: VaultContext, tmp_path: Path) -> None:
    """Even if the vault's clock says an item is due, the store refuses while the lock holds:
    the item stays as it was (not marked destroyed) and the run reports it failed."""
    cli(settings, "tenant", "create", "acme", clock=DEPOSIT_CLOCK)
    rec = tmp_path / "c.json"
    rec.write_text('{"ip": "198.51.100.1"}')
    env_lock = {"VAULT_DRILL_LOCK_SECONDS": "60", "VAULT_CLOCK": DEPOSIT_CLOCK}
    r = run_cli(
        settings,
        "deposit",
        str(rec),
        "--kind",
        "connection_metadata",
        "--tenant",
        "acme",
        "--session",
        "s",
        "--subject",
        "bob",
        "--json",
        env=env_lock,
    )
    assert r.returncode == 0, r.stderr
    cm = json.loads(r.stdout)["id"]
    cli(settings, "seal", clock=DEPOSIT_CLOCK)
    r = run_cli(
        settings, "tenant", "end-service", "acme", "--date", "2024-06-30", env={"VAULT_DRILL_LOCK_SECONDS": "60"}
    )
    assert r.returncode == 0, r.stderr
    result = cli(settings, "retention", "apply", "--json", ok=(1,))
    assert [f["id"] for f in result["failed"]] == [cm]
    assert "is locked until" in result["failed"][0]["reason"]  # as the store itself reports its lock
    assert result["destroyed"] == []
    with ctx.sessions() as s:
        item = s.scalars(select(Item).where(Item.id == cm)).one()
        assert item.disposal is None and item.disposal_record is None
    assert cli(settings, "verify", cm, "--json")["status"] == "valid"


def test_erasure_erases_operational_data_and_refuses_proofs_idempotently(
    settings: Settings, ctx: VaultContext, tmp_path: Path
) -> None:
    cli(settings, "tenant", "create", "acme", "--proof-years", "20", clock=DEPOSIT_CLOCK)
    cm, tp = deposit_both(settings, tmp_path)
    other_cm, _ = deposit_both(settings, tmp_path, subject="carol")
    cli(settings, "seal", clock=DEPOSIT_CLOCK)

    r = run_cli(settings, "subject", "erase", "alice", "--tenant", "acme", "--json")  # the real command
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    assert first["erased"] == [cm]
    assert len(first["refused"]) == 1 and first["refused"][0]["id"] == tp
    assert "legal retention" in first["refused"][0]["reason"]
    assert first["refused"][0]["until"] == "2044-06-01T10:00:00.000000Z"  # 20 years after the deposit

    second = cli(settings, "subject", "erase", "alice", "--tenant", "acme", "--json")
    assert second["erased"] == first["erased"] and second["refused"] == first["refused"]
    assert second["keys_destroyed"] == 0

    # the erased record is unreadable, reported destroyed (not tampered); the proof and the
    # other subject's record in the same segment and batch still verify
    erased = cli(settings, "verify", cm, "--json", ok=(3,))
    assert erased["status"] == "destroyed" and "erasure" in erased["rule"]
    assert cli(settings, "verify", tp, "--json")["status"] == "valid"
    assert cli(settings, "verify", other_cm, "--json")["status"] == "valid"
    r = run_cli(settings, "show", cm)
    assert r.returncode == 2 and b"erased" in r.stderr
    # both requests and their outcome are in the journal
    erases = cli(settings, "journal", "--action", "subject_erase", "--tenant", "acme", "--json")["entries"]
    assert cli(settings, "journal", "--action", "subject_erase", "--tenant", "other", "--json")["entries"] == []
    assert len(erases) == 2 and erases[0]["details"]["refused"][0]["id"] == tp
    assert "alice" not in json.dumps(erases)  # the journal names subjects by pseudonym only


def test_legal_hold_blocks_retention_and_erasure_until_released(
    settings: Settings, ctx: VaultContext, tmp_path: Path
) -> None:
    cli(settings, "tenant", "create", "acme", clock=DEPOSIT_CLOCK)
    cm, _tp = deposit_both(settings, tmp_path, session="s1")
    cm2, _ = deposit_both(settings, tmp_path, subject="dave", session="s2")
    cli(settings, "seal", clock=DEPOSIT_CLOCK)
    held = cli(settings, "hold", "add", "--tenant", "acme", "--session", "s1", "--case", "RG-2026-042", "--json")
    assert held["items"] == 2 and held["object_versions"] >= 4
    with ctx.sessions() as s:
        item = s.scalars(select(Item).where(Item.id == cm)).one()
    assert item.version_id is not None
    assert ctx.store.legal_hold(item.object_key, item.version_id) is True  # S3 shows it

    cli(settings, "tenant", "end-service", "acme", "--date", "2025-01-01")
    plan = cli(settings, "retention", "plan", "--json")
    kept = {k["id"]: k for k in plan["kept"]}
    assert kept[cm]["hold"] == "RG-2026-042" and "legal hold" in kept[cm]["reason"]
    assert cm2 in {d["id"] for d in plan["due"]}

    erase = cli(settings, "subject", "erase", "alice", "--tenant", "acme", "--json")
    assert erase["erased"] == []
    assert {r["id"] for r in erase["refused"]} == {cm, _tp}
    assert any("RG-2026-042" in r["reason"] and r["until"] is None for r in erase["refused"])

    wait_for_drill_locks()
    run = cli(settings, "retention", "apply", "--json")
    assert [d["id"] for d in run["destroyed"]] == [cm2]
    assert ctx.store.versions(item.object_key)  # the held version is still there

    cli(settings, "hold", "release", "--tenant", "acme", "--session", "s1", "--case", "RG-2026-042")
    assert ctx.store.legal_hold(item.object_key, item.version_id) is False
    run = cli(settings, "retention", "apply", "--json")
    assert [d["id"] for d in run["destroyed"]] == [cm]
    assert ctx.store.versions(item.object_key) == []


def test_journal_tampering_is_detected(settings: Settings, ctx: VaultContext, tmp_path: Path) -> None:
    from vault.index.models import JournalEntry

    cli(settings, "tenant", "create", "acme")
    rec = tmp_path / "c.json"
    rec.write_text('{"ip": "192.0.2.1"}')
    for _ in range(3):
        cli(settings, "deposit", str(rec), "--kind", "connection_metadata", "--tenant", "acme", "--session", "s")
    cli(settings, "seal")
    assert cli(settings, "journal", "verify", "--json")["status"] == "valid"

    with ctx.sessions() as s:  # an insider edits who did it
        e = s.scalars(select(JournalEntry).where(JournalEntry.action == "deposit")).first()
        assert e is not None
        e.actor = "someone-else"
        s.commit()
    r = cli(settings, "journal", "verify", "--json", ok=(1,))
    assert r["status"] == "invalid" and any("journal.actor differ from the sealed body" in p for p in r["problems"])

    with ctx.sessions() as s:  # ...then rewrites the body too, and its leaf
        from vault.journal.entry import leaf_of

        e = s.scalars(select(JournalEntry).where(JournalEntry.action == "deposit")).first()
        assert e is not None
        body = json.loads(e.body)
        body["actor"] = "someone-else"
        e.body = json.dumps(body).encode()
        e.leaf = leaf_of(e.body)
        s.commit()
    r = cli(settings, "journal", "verify", "--json", ok=(1,))
    assert any("path does not lead" in p for p in r["problems"]), r["problems"]

    with ctx.sessions() as s:  # ...or deletes an entry outright
        last = s.scalars(
            select(JournalEntry).where(JournalEntry.action == "deposit").order_by(JournalEntry.seq.desc())
        ).first()
        assert last is not None
        s.delete(last)
        s.commit()
    r = cli(settings, "journal", "verify", "--json", ok=(1,))
    assert any("entries deleted or moved" in p for p in r["problems"]), r["problems"]


def test_show_rectify_restrict_and_object_through_the_cli(
    settings: Settings, ctx: VaultContext, tmp_path: Path
) -> None:
    cli(settings, "tenant", "create", "acme", clock=DEPOSIT_CLOCK)
    cm, _tp = deposit_both(settings, tmp_path)
    shown = cli(settings, "show", cm, "--json")
    assert shown["fields"] == {"ip": "203.0.113.7", "port": 443, "subject": "alice"}
    assert shown["retain_until"] is None and "service has not ended" in shown["retention"]

    fix = cli(
        settings,
        "subject",
        "rectify",
        "alice",
        "--tenant",
        "acme",
        "--item",
        cm,
        "--field",
        "ip",
        "--value",
        "203.0.113.99",
        "--json",
    )
    shown = cli(settings, "show", cm, "--json")
    assert shown["fields"]["ip"] == "203.0.113.99" and shown["original_fields"]["ip"] == "203.0.113.7"
    assert [c["id"] for c in shown["corrections"]] == [fix["correction"]]
    bad = cli(
        settings,
        "subject",
        "rectify",
        "alice",
        "--tenant",
        "acme",
        "--item",
        cm,
        "--field",
        "nope",
        "--value",
        "x",
        ok=(2,),
    )
    assert bad == ""  # the error went to stderr, nothing to stdout

    assert cli(settings, "subject", "restrict", "alice", "--tenant", "acme", "--json")["restricted"] is True
    cli(settings, "show", cm, ok=(2,))  # an operator may not read a restricted subject's data
    assert cli(settings, "--role", "dpo", "--as", "dpo@acme", "show", cm, "--json")["fields"]["ip"] == "203.0.113.99"
    cli(settings, "--role", "wizard", "show", cm, ok=(2,))

    accepted = cli(settings, "subject", "object", "alice", "--tenant", "acme", "--purpose", "personalization", "--json")
    assert accepted["accepted"] is True
    refused = cli(settings, "subject", "object", "alice", "--tenant", "acme", "--purpose", "support", "--json")
    assert refused["accepted"] is False and "does not apply" in refused["reason"]

    entries = cli(settings, "journal", "--json")["entries"]
    reads = [e for e in entries if e["action"] == "read"]
    assert [(e["actor"], e["role"]) for e in reads][-1] == ("dpo@acme", "dpo")
    assert all(e["subject_ref"] and e["subject_ref"].startswith("sr_") for e in reads)
    actions = {e["action"] for e in entries}
    assert {"subject_rectify", "subject_restrict", "subject_object"} <= actions
