"""Subject rights through the library (access, rectification, restriction, objection,
erasure), against the real SeaweedFS and TSA, with the vault's clock set (FixedClock) and
short real Object Lock durations (drill_lock_seconds) where a lock must expire."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from conftest import open_ctx, with_settings
from vault.access.principal import Principal, Role
from vault.batch.sealer import seal_pending
from vault.clock import FixedClock
from vault.config import Settings
from vault.context import VaultContext
from vault.errors import Forbidden, InputError, KeyError_, NotFound
from vault.index.models import Item, Segment, SubjectKey, SubjectStatus
from vault.ingest.common import validate
from vault.ingest.records import deposit_records
from vault.privacy.erasure import ERASURE_RULE, erase_subject
from vault.privacy.reading import check_read, decoded_fields, view_item
from vault.privacy.rights import ACCESS_TYPE, object_to, rectify, restrict, subject_access
from vault.retention.apply import apply_retention
from vault.retention.contract import create_tenant
from vault.retention.holds import add_hold
from vault.retention.plan import make_plan
from vault.verify.online import verify_item
from vault_support import DRILL, count, item, journal, put_file, rec, wait_for_drill_locks

T0 = dt.datetime(2024, 6, 1, 10, 0, tzinfo=dt.UTC)

OPERATOR = Principal("op@acme", Role.OPERATOR)
TECHNICIAN = Principal("tech@acme", Role.TECHNICIAN)
LEGAL = Principal("legal@acme", Role.LEGAL)
DPO = Principal("dpo@acme", Role.DPO)


@pytest.fixture
def vctx(settings: Settings) -> Iterator[VaultContext]:
    """A context at T0 whose object locks last DRILL real seconds."""
    c = open_ctx(with_settings(settings, drill_lock_seconds=DRILL))
    c.clock = FixedClock(T0)
    create_tenant(c, "acme", 20)
    yield c
    c.close()


def recs(ctx: VaultContext, *entries: tuple[str, dict[str, Any]], session: str = "s1") -> list[str]:
    """Several subjects' records in one call: one segment."""
    reqs = [
        (validate(tenant="acme", session=session, kind="connection_metadata", subject=subj), fields)
        for subj, fields in entries
    ]
    return [r.item_id for r in deposit_records(ctx, reqs)]


# -- access and portability -------------------------------------------------------------------
def test_access_export_lists_the_subjects_items_with_purpose_basis_retention_fields_and_files(
    vctx: VaultContext, tmp_path: Path
) -> None:
    log_bytes = b"2024-06-01 10:00 alice opened a session\n"
    proof_bytes = b"signed intervention report, alice"
    cm, carol_cm = recs(vctx, ("alice", {"ip": "203.0.113.7", "port": 443}), ("carol", {"ip": "198.51.100.1"}))
    log = put_file(vctx, "alice", log_bytes, meta={"device": "laptop-7"})
    tp = put_file(vctx, "alice", proof_bytes, kind="transaction_proof")
    carol_log = put_file(vctx, "carol", b"carol's log")
    assert object_to(vctx, "acme", "alice", "personalization")["accepted"] is True
    seal_pending(vctx)

    out = tmp_path / "export" / "alice"
    assert subject_access(vctx, "acme", "alice", out) == {"out": str(out), "items": 3, "unavailable": 0}
    assert sorted(p.name for p in out.iterdir()) == ["files", "subject.json"]
    assert sorted(p.name for p in (out / "files").iterdir()) == sorted([log, tp])
    assert (out / "files" / log).read_bytes() == log_bytes
    assert (out / "files" / tp).read_bytes() == proof_bytes

    doc = json.loads((out / "subject.json").read_text("utf-8"))
    assert doc["type"] == ACCESS_TYPE == "vault-subject-access/1"
    assert (doc["tenant"], doc["subject"], doc["generated_at"]) == ("acme", "alice", "2024-06-01T10:00:00.000000Z")
    assert doc["restricted"] is False
    assert doc["objections"] == {"personalization": "2024-06-01T10:00:00.000000Z"}
    items = {i["id"]: i for i in doc["items"]}
    assert [i["id"] for i in doc["items"]] == [cm, log, tp]  # in deposit order; carol's never
    assert carol_cm not in items and carol_log not in items
    assert "198.51.100.1" not in json.dumps(doc) and "carol" not in json.dumps(doc)

    assert items[cm] | {"received_at": None} == {
        "id": cm,
        "kind": "connection_metadata",
        "session": "s1",
        "purpose": "support",
        "purpose_label": "Support technique, bon fonctionnement et sécurisation",
        "legal_basis": "contract",
        "retention_rule": "12 months after end of service",
        "received_at": None,
        "retain_until": None,  # the service has not ended: no date yet
        "status": "active",
        "legal_hold": False,
        "content_sha256": item(vctx, cm).sha256,
        "fields": {"ip": "203.0.113.7", "port": 443, "subject": "alice"},
        "file": None,
    }
    assert items[cm]["received_at"] == "2024-06-01T10:00:00.000000Z"
    assert items[log]["file"] == f"files/{log}"
    assert items[log]["fields"] == {"device": "laptop-7", "subject": "alice"}
    assert (items[log]["purpose"], items[log]["legal_basis"]) == ("support", "contract")
    assert items[tp]["file"] == f"files/{tp}"
    assert (items[tp]["purpose"], items[tp]["legal_basis"]) == ("transaction_proof", "legal_obligation")
    assert items[tp]["retain_until"] == "2044-06-01T10:00:00.000000Z"  # 20 proof years
    assert items[tp]["fields"] == {"subject": "alice"}

    # the journal's entries about alice (by pseudonym): her two file deposits and her objection
    assert [(r["action"], r["details"].get("items")) for r in doc["requests"]] == [
        ("deposit", [log]),
        ("deposit", [tp]),
        ("subject_object", None),
    ]
    ref = vctx.pseudonyms.of("acme", "alice")
    assert {r["subject_ref"] for r in doc["requests"]} == {ref}
    [access] = journal(vctx, "subject_access")
    assert access["subject_ref"] == ref and access["details"]["items"] == 3

    # a second export lists the first access among the requests
    again = tmp_path / "again"
    subject_access(vctx, "acme", "alice", again)
    doc2 = json.loads((again / "subject.json").read_text("utf-8"))
    assert [r["action"] for r in doc2["requests"]][-1] == "subject_access"


def test_access_refuses_a_used_output_folder_and_unknown_tenants_writing_nothing(
    vctx: VaultContext, tmp_path: Path
) -> None:
    put_file(vctx, "alice", b"alice's log")
    create_tenant(vctx, "beta")

    work = tmp_path / "work"
    work.mkdir()
    used = work / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        subject_access(vctx, "acme", "alice", used)
    assert [p.name for p in used.iterdir()] == ["keep.txt"] and (used / "keep.txt").read_text() == "mine"
    a_file = work / "a-file"
    a_file.write_text("x")
    with pytest.raises(InputError):
        subject_access(vctx, "acme", "alice", a_file)
    assert a_file.read_text() == "x"
    with pytest.raises(NotFound, match="no such tenant"):
        subject_access(vctx, "nobody", "alice", work / "n")
    with pytest.raises(InputError, match="invalid subject"):
        subject_access(vctx, "acme", "al ice", work / "n")
    assert sorted(p.name for p in work.iterdir()) == ["a-file", "used"]  # no folder, no leftovers
    assert journal(vctx, "subject_access") == []

    # an existing empty folder is fine; the same subject id in another tenant has nothing
    empty = work / "empty"
    empty.mkdir()
    assert subject_access(vctx, "beta", "alice", empty)["items"] == 0
    doc = json.loads((empty / "subject.json").read_text("utf-8"))
    assert doc["tenant"] == "beta" and doc["items"] == [] and doc["requests"] == []
    assert [p.name for p in empty.iterdir()] == ["subject.json"]


# -- rectification ----------------------------------------------------------------------------
def test_rectify_seals_a_correction_and_keeps_the_original_as_evidence(vctx: VaultContext, tmp_path: Path) -> None:
    cm = rec(vctx, "alice", {"ip": "203.0.113.7", "port": 443})
    seal_pending(vctx)
    vctx.clock = FixedClock(T0 + dt.timedelta(days=3))

    r = rectify(vctx, "acme", "alice", cm, "ip", "198.51.100.9")
    fix = r["correction"]
    assert r == {"item": cm, "correction": fix, "field": "ip"}
    c = item(vctx, fix)
    assert (c.kind, c.corrects, c.purpose, c.session, c.state) == ("correction", cm, "support", "s1", "stored")
    seal_pending(vctx)
    assert item(vctx, fix).state == "sealed"

    view = view_item(vctx, item(vctx, cm))
    assert view.fields == {"ip": "198.51.100.9", "port": 443, "subject": "alice"}
    assert view.original == {"ip": "203.0.113.7", "port": 443, "subject": "alice"}
    assert view.corrections == [
        {"id": fix, "field": "ip", "value": "198.51.100.9", "at": "2024-06-04T10:00:00.000000Z"}
    ]
    assert verify_item(vctx, cm).status == "valid"  # the original is still the evidence it was
    assert verify_item(vctx, fix).status == "valid"

    # the latest correction of a field wins
    fix2 = rectify(vctx, "acme", "alice", cm, "ip", "198.51.100.10")["correction"]
    assert view_item(vctx, item(vctx, cm)).fields["ip"] == "198.51.100.10"
    assert [x["id"] for x in view_item(vctx, item(vctx, cm)).corrections] == [fix, fix2]

    [j, _] = journal(vctx, "subject_rectify")
    assert j["details"] == {"item": cm, "field": "ip", "correction": fix}
    assert j["subject_ref"] == vctx.pseudonyms.of("acme", "alice")

    # the access export shows the corrected item once, with its original fields
    subject_access(vctx, "acme", "alice", tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "subject.json").read_text("utf-8"))
    [entry] = doc["items"]
    assert entry["id"] == cm and entry["fields"]["ip"] == "198.51.100.10"
    assert entry["original_fields"]["ip"] == "203.0.113.7" and len(entry["corrections"]) == 2


def test_rectify_refuses_unknown_and_reserved_fields_foreign_erased_items_and_corrections(
    vctx: VaultContext,
) -> None:
    gone = rec(vctx, "alice", {"ip": "192.0.2.2"})
    assert erase_subject(vctx, "acme", "alice").erased == [gone]
    cm, carol_cm = recs(vctx, ("alice", {"ip": "203.0.113.7", "port": 443}), ("carol", {"ip": "198.51.100.1"}))
    bare = put_file(vctx, "alice", b"no meta")
    beta_cm = rec(vctx, "alice", {"ip": "192.0.2.1"}, tenant="beta")
    fix = rectify(vctx, "acme", "alice", cm, "port", "8443")["correction"]
    before = count(vctx, Item, Item.kind == "correction")

    with pytest.raises(InputError) as e:
        rectify(vctx, "acme", "alice", cm, "email", "a@example.org")
    assert e.value.message == f"item {cm} has no correctable field 'email'" and e.value.detail == "fields: ip, port"
    with pytest.raises(InputError) as e:
        rectify(vctx, "acme", "alice", cm, "subject", "mallory")
    assert e.value.message == f"item {cm} has no correctable field 'subject'"
    with pytest.raises(InputError) as e:
        rectify(vctx, "acme", "alice", bare, "device", "x")
    assert e.value.detail == "fields: none"
    with pytest.raises(NotFound):
        rectify(vctx, "acme", "alice", carol_cm, "ip", "203.0.113.1")  # another subject's item
    with pytest.raises(NotFound):
        rectify(vctx, "acme", "alice", beta_cm, "ip", "203.0.113.1")  # another tenant's item
    with pytest.raises(NotFound):
        rectify(vctx, "acme", "alice", "it_does_not_exist", "ip", "203.0.113.1")
    with pytest.raises(NotFound, match="no such tenant"):
        rectify(vctx, "gamma", "alice", cm, "ip", "203.0.113.1")
    with pytest.raises(InputError) as e:
        rectify(vctx, "acme", "alice", gone, "ip", "203.0.113.1")
    assert e.value.message == f"item {gone} cannot be corrected" and e.value.detail == "it is erased"
    with pytest.raises(InputError, match="correct the original item"):
        rectify(vctx, "acme", "alice", fix, "value", "9999")
    assert count(vctx, Item, Item.kind == "correction") == before
    assert len(journal(vctx, "subject_rectify")) == 1  # the one that was made


def test_rectify_is_not_blocked_by_an_objection_to_the_items_purpose(vctx: VaultContext) -> None:
    """An objection stops new processing for the purpose; the subject's own rectification of
    what is already held (GDPR art. 16) must still be possible."""
    cm = rec(vctx, "alice", {"ip": "203.0.113.7"}, purpose="service_improvement")
    assert object_to(vctx, "acme", "alice", "service_improvement")["accepted"] is True
    fix = rectify(vctx, "acme", "alice", cm, "ip", "198.51.100.9")["correction"]
    assert item(vctx, fix).corrects == cm
    assert view_item(vctx, item(vctx, cm)).fields["ip"] == "198.51.100.9"
    with pytest.raises(Forbidden):  # new data for the purpose is still refused
        rec(vctx, "alice", {"ip": "203.0.113.8"}, purpose="service_improvement")


# -- restriction and objection ----------------------------------------------------------------
def test_restriction_limits_reads_to_legal_and_dpo_until_lifted(vctx: VaultContext) -> None:
    cm, carol_cm = recs(vctx, ("alice", {"ip": "203.0.113.7"}), ("carol", {"ip": "198.51.100.1"}))
    log = put_file(vctx, "alice", b"log", meta={"device": "d1"})
    for who in (OPERATOR, TECHNICIAN, LEGAL, DPO):
        check_read(vctx, item(vctx, cm), who)

    assert restrict(vctx, "acme", "alice") == {"restricted": True, "since": "2024-06-01T10:00:00.000000Z"}
    for i in (cm, log):
        for who in (OPERATOR, TECHNICIAN):
            with pytest.raises(Forbidden) as e:
                check_read(vctx, item(vctx, i), who)
            assert e.value.message == (
                "the data subject restricted processing (GDPR art. 18): reading their data is restricted to "
                "the dpo and legal roles"
            )
        check_read(vctx, item(vctx, i), LEGAL)
        check_read(vctx, item(vctx, i), DPO)
    check_read(vctx, item(vctx, carol_cm), OPERATOR)  # the other subject is not restricted
    vctx.clock = FixedClock(T0 + dt.timedelta(days=1))
    assert restrict(vctx, "acme", "alice")["since"] == "2024-06-01T10:00:00.000000Z"  # asked again: unchanged

    assert restrict(vctx, "acme", "alice", lift=True) == {"restricted": False, "since": None}
    check_read(vctx, item(vctx, cm), OPERATOR)
    check_read(vctx, item(vctx, log), TECHNICIAN)
    entries = journal(vctx, "subject_restrict")
    assert [(e["at"], e["details"]["lifted"]) for e in entries] == [
        ("2024-06-01T10:00:00.000000Z", False),
        ("2024-06-02T10:00:00.000000Z", False),
        ("2024-06-02T10:00:00.000000Z", True),
    ]
    assert {e["subject_ref"] for e in entries} == {vctx.pseudonyms.of("acme", "alice")}
    with pytest.raises(NotFound):
        restrict(vctx, "nobody", "alice")


def test_objection_stops_legitimate_interest_purposes_only(vctx: VaultContext) -> None:
    old = rec(vctx, "alice", {"ip": "203.0.113.7"}, purpose="service_improvement")
    r = object_to(vctx, "acme", "alice", "service_improvement")
    assert r == {
        "purpose": "service_improvement",
        "accepted": True,
        "reason": "processing based on legitimate interest: stopped for this subject (GDPR art. 21(1))",
    }
    with pytest.raises(Forbidden, match="objected to the purpose 'service_improvement'"):
        rec(vctx, "alice", {"ip": "203.0.113.8"}, purpose="service_improvement")
    writing_before = count(vctx, Item)
    with pytest.raises(Forbidden):
        put_file(vctx, "alice", b"log", purpose="service_improvement")
    assert count(vctx, Item) == writing_before  # refused before any intent or object was written
    rec(vctx, "carol", {"ip": "198.51.100.1"}, purpose="service_improvement")  # another subject: fine
    rec(vctx, "alice", {"ip": "203.0.113.9"}, purpose="personalization")  # another purpose: fine
    rec(vctx, "alice", {"ip": "203.0.113.9"}, purpose="service_improvement", tenant="beta")  # another tenant
    # what was held before the objection is readable by legal and DPO only
    with pytest.raises(Forbidden, match="objected to the purpose"):
        check_read(vctx, item(vctx, old), OPERATOR)
    check_read(vctx, item(vctx, old), DPO)

    r = object_to(vctx, "acme", "alice", "support")
    assert r["purpose"] == "support" and r["accepted"] is False
    assert r["reason"].startswith("processing based on contract: the right to object does not apply")
    support = rec(vctx, "alice", {"ip": "203.0.113.10"}, purpose="support")
    check_read(vctx, item(vctx, support), OPERATOR)
    with vctx.sessions() as s:
        st = s.get(SubjectStatus, ("acme", "alice"))
        assert st is not None and json.loads(st.objections) == {"service_improvement": "2024-06-01T10:00:00.000000Z"}
    assert [(e["details"]["purpose"], e["details"]["accepted"]) for e in journal(vctx, "subject_object")] == [
        ("service_improvement", True),
        ("support", False),
    ]
    with pytest.raises(InputError, match="unknown purpose"):
        object_to(vctx, "acme", "alice", "marketing")


# -- erasure ----------------------------------------------------------------------------------
def test_erasure_refuses_what_shares_a_key_with_a_held_item(vctx: VaultContext, tmp_path: Path) -> None:
    held = rec(vctx, "alice", {"ip": "203.0.113.7"}, session="s1")
    same_key = put_file(vctx, "alice", b"log in s2", session="s2", meta={"device": "d1"})
    other_key = rec(vctx, "alice", {"ip": "203.0.113.8"}, session="s2", purpose="personalization")
    seal_pending(vctx)
    add_hold(vctx, tenant="acme", session="s1", case="RG-2026-001")

    r = erase_subject(vctx, "acme", "alice")
    assert r.erased == [other_key] and r.keys_destroyed == 1
    hold_reason = "legal hold: case RG-2026-001 (deletion suspended until the hold is released)"
    assert r.as_json()["refused"] == [
        {"id": held, "reason": hold_reason, "until": None},
        {
            "id": same_key,
            "reason": f"shares its data key with {held}, which must be kept: {hold_reason}",
            "until": None,
        },
    ]
    assert view_item(vctx, item(vctx, same_key)).fields == {"device": "d1", "subject": "alice"}  # key intact
    subject_access(vctx, "acme", "alice", tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "subject.json").read_text("utf-8"))
    assert [(i["id"], i["status"], i["legal_hold"]) for i in doc["items"]] == [
        (held, "active", True),
        (same_key, "active", False),  # not held itself: only its key is kept
        (other_key, "erased", False),
    ]
    assert doc["items"][2]["fields"] is None and doc["items"][2]["file"] is None
    assert doc["items"][2]["status_detail"] == f"erased on 2024-06-01T10:00:00.000000Z ({ERASURE_RULE})"
    assert item(vctx, other_key).disposal == "erased"
    with pytest.raises(KeyError_):
        decoded_fields(vctx, item(vctx, other_key))


def test_erasing_nothing_and_bad_requests(vctx: VaultContext) -> None:
    rec(vctx, "alice", {"ip": "203.0.113.7"})
    r = erase_subject(vctx, "acme", "nobody")
    assert (r.erased, r.refused, r.keys_destroyed) == ([], [], 0)
    [entry] = journal(vctx, "subject_erase")
    assert entry["id"] == r.record and entry["details"]["erased"] == []
    with pytest.raises(InputError, match="invalid subject"):
        erase_subject(vctx, "acme", "bad subject!")
    with pytest.raises(InputError, match="invalid subject"):
        erase_subject(vctx, "acme", "")
    with pytest.raises(NotFound, match="no such tenant"):
        erase_subject(vctx, "nobody", "alice")
    assert len(journal(vctx, "subject_erase")) == 1
    assert count(vctx, SubjectKey, SubjectKey.wrapped_key.is_(None)) == 0


def test_a_deposit_after_erasure_gets_a_new_key_generation(vctx: VaultContext) -> None:
    old = rec(vctx, "alice", {"ip": "203.0.113.7"})
    old_file = put_file(vctx, "alice", b"old log", meta={"device": "d1"})
    assert erase_subject(vctx, "acme", "alice").erased == sorted([old, old_file])
    new = rec(vctx, "alice", {"ip": "198.51.100.9"})
    new_file = put_file(vctx, "alice", b"new log", meta={"device": "d2"})
    seal_pending(vctx)

    with vctx.sessions() as s:
        keys = s.scalars(
            select(SubjectKey)
            .where(SubjectKey.tenant_id == "acme", SubjectKey.scope == "support")
            .order_by(SubjectKey.generation)
        ).all()
    assert [(k.generation, k.wrapped_key is None) for k in keys] == [(1, True), (2, False)]
    # the destroyed row no longer names the subject: only its keyed pseudonym, as in the journal
    assert keys[0].subject == "#" + vctx.pseudonyms.of("acme", "alice") and keys[1].subject == "alice"
    assert {item(vctx, i).subject_key_id for i in (new, new_file)} == {keys[1].id}
    assert {item(vctx, i).subject_key_id for i in (old, old_file)} == {keys[0].id}

    assert view_item(vctx, item(vctx, new)).fields == {"ip": "198.51.100.9", "subject": "alice"}
    assert view_item(vctx, item(vctx, new_file)).fields == {"device": "d2", "subject": "alice"}
    assert verify_item(vctx, new).status == "valid" and verify_item(vctx, new_file).status == "valid"
    for i in (old, old_file):
        with pytest.raises(NotFound, match="was erased"):
            check_read(vctx, item(vctx, i), DPO)
        with pytest.raises(KeyError_):
            decoded_fields(vctx, item(vctx, i))
        assert verify_item(vctx, i).status == "destroyed"


@pytest.mark.parametrize("path", ["file", "records"])
def test_a_key_destroyed_before_the_deposit_commits_is_refused(
    vctx: VaultContext, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """An erasure in another process wins the race between data_key() and the commit: the
    deposit is not acknowledged, and the next one starts a new key generation."""
    import vault.ingest.files
    import vault.ingest.records

    def destroy_key(name: str) -> None:
        with vctx.sessions() as s:  # what erase_subject in another process would do
            s.execute(
                update(SubjectKey)
                .where(SubjectKey.tenant_id == "acme", SubjectKey.subject == "alice")
                .values(wrapped_key=None, destroyed_at=T0)
            )
            s.commit()

    module = vault.ingest.files if path == "file" else vault.ingest.records
    monkeypatch.setattr(module, "fault_point", destroy_key)
    deposits_before = len(journal(vctx, "deposit"))
    with pytest.raises(KeyError_, match="destroyed while the deposit was written"):
        if path == "file":
            put_file(vctx, "alice", b"log", meta={"device": "d1"})
        else:
            rec(vctx, "alice", {"ip": "203.0.113.7"})
    monkeypatch.undo()
    assert len(journal(vctx, "deposit")) == deposits_before  # never acknowledged
    if path == "file":
        assert count(vctx, Item, Item.state == "writing") == 1  # an intent, for recovery
        assert count(vctx, Item, Item.state.in_(("stored", "sealed"))) == 0
    else:
        assert count(vctx, Item) == 0
        assert count(vctx, Segment, Segment.state == "writing") == 1

    again = (
        put_file(vctx, "alice", b"log", meta={"device": "d1"}) if path == "file" else rec(vctx, "alice", {"ip": "1"})
    )
    with vctx.sessions() as s:
        k = s.get(SubjectKey, item(vctx, again).subject_key_id)
        assert k is not None and k.generation == 2 and k.wrapped_key is not None


def test_erased_ciphertext_stays_until_its_lock_ends_then_the_run_deletes_it(vctx: VaultContext) -> None:
    cm = rec(vctx, "alice", {"ip": "203.0.113.7"})  # alone in its segment
    log = put_file(vctx, "alice", b"alice's log")
    seal_pending(vctx)
    assert erase_subject(vctx, "acme", "alice").erased == sorted([cm, log])
    keys = {i: item(vctx, i).object_key for i in (cm, log)}
    for key in keys.values():
        assert [m for _, m in vctx.store.versions(key)] == [False]
        assert [m for _, m in vctx.store.versions(key + ".manifest.json")] == [False]

    committed = "2025-06-01T10:00:00.000000Z"  # 12 months after deposit: the service has not ended
    kept = {k["id"]: k for k in make_plan(vctx, T0 + dt.timedelta(days=30)).as_json()["kept"]}
    assert kept[cm]["reason"] == "erased on request: key destroyed, bytes locked until the date shown"
    assert kept[cm]["retain_until"] == committed and kept[cm]["disposal"] == "erased"
    due = make_plan(vctx, dt.datetime(2025, 6, 1, 10, 0, tzinfo=dt.UTC)).as_json()["due"]
    assert [(d["id"], d["action"], d["rule"], d["retain_until"]) for d in due] == [
        (i, "delete_objects", "erased on request (GDPR art. 17); lock expired", committed) for i in (cm, log)
    ]

    wait_for_drill_locks()
    vctx.clock = FixedClock(dt.datetime(2025, 6, 2, tzinfo=dt.UTC))
    run = apply_retention(vctx)
    assert sorted((d["id"], d["rule"]) for d in run.destroyed) == sorted((i, ERASURE_RULE) for i in (cm, log))
    assert run.failed == [] and run.keys_destroyed == 0  # the keys went with the erasure
    for i, key in keys.items():
        assert vctx.store.versions(key) == [] and vctx.store.versions(key + ".manifest.json") == []
        it = item(vctx, i)
        assert (it.disposal, it.disposal_rule) == ("destroyed", ERASURE_RULE)
        assert verify_item(vctx, i).status == "destroyed"


def test_group_commit_refuses_only_the_objected_callers_record(vctx: VaultContext) -> None:
    """Concurrent callers share a flush: a record refused for an objection fails its own
    caller, and the others in the same segment are written."""
    from vault.ingest.records import RecordPacker

    object_to(vctx, "acme", "alice", "service_improvement")
    packer = RecordPacker(vctx)
    try:
        refused = packer.submit(
            [
                (
                    validate(
                        tenant="acme",
                        session="s1",
                        kind="connection_metadata",
                        purpose="service_improvement",
                        subject="alice",
                    ),
                    {"ip": "203.0.113.7"},
                )
            ]
        )
        accepted = packer.submit(
            [
                (
                    validate(
                        tenant="acme",
                        session="s1",
                        kind="connection_metadata",
                        purpose="service_improvement",
                        subject="bob",
                    ),
                    {"ip": "203.0.113.8"},
                )
            ]
        )
        with pytest.raises(Forbidden, match="objected to the purpose 'service_improvement'"):
            refused[0].result(timeout=30)
        receipt = accepted[0].result(timeout=30)
    finally:
        packer.close()
    assert item(vctx, receipt.item_id).purpose == "service_improvement"
    assert count(vctx, Item, Item.purpose == "service_improvement") == 1
