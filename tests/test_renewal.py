"""Archive-timestamp renewal (RFC 4998 5.2, 5.3): the drills of issue 11.

A TSA whose certificate ends in ten minutes stamps a batch; before it ends, `vault renew`
covers that token with a token from a second TSA; as of a date after the first certificate
ended, the item is valid with the renewal and "not provable" without it. The same with an
algorithm marked weak and a hash-tree renewal. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import select, update

from conftest import open_ctx, run_cli, with_settings
from vault.batch.sealer import seal_pending
from vault.config import Settings, TSAConfig
from vault.context import VaultContext
from vault.errors import TSAUnavailable
from vault.index.models import ArchiveStamp, Batch, Item, StampLeaf
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.keys.pki import DevPKI, issue, load_cert, load_private_key, new_key, write_cert, write_key
from vault.renewal.run import renew
from vault.renewal.verify import long_term
from vault.timestamp.responder import TimeStampResponder
from vault.timestamp.server import TSAServer

NOW = dt.datetime.now(dt.UTC)
LATER = NOW + dt.timedelta(days=1)  # after the short-lived TSA certificate ended


@pytest.fixture
def short_tsa(pki: DevPKI, tmp_path: Path) -> Iterator[TSAConfig]:
    """A TSA of the same CA whose certificate ends ten minutes from now (from when the test
    starts, not when the module was imported: the suite may run longer than that)."""
    key = new_key()
    start = dt.datetime.now(dt.UTC)
    cert = issue(
        load_cert(pki.tsa_ca.cert),
        load_private_key(pki.tsa_ca.key),  # type: ignore[arg-type]
        "Short-lived TSA",
        key,
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
        now=start - dt.timedelta(days=1) + dt.timedelta(minutes=10),
        days=1,
    )
    write_cert(tmp_path / "short-tsa.pem", cert)
    write_key(tmp_path / "short-tsa.key", key)
    server = TSAServer(TimeStampResponder(cert, key)).start()
    yield TSAConfig(url=server.url, ca=pki.tsa_ca.cert, cert=tmp_path / "short-tsa.pem", timeout=5.0)
    server.stop()


def _deposit(ctx: VaultContext, text: bytes = b"signed contract, page 1\n") -> str:
    req = validate(tenant="acme", session="s-1", kind="transaction_proof", subject="alice")
    return deposit_stream(ctx, io.BytesIO(text), req).item_id


def _item(ctx: VaultContext, item_id: str) -> tuple[Item, Batch]:
    with ctx.sessions() as s:
        item = s.scalars(select(Item).where(Item.id == item_id)).one()
        batch = s.get(Batch, item.batch_seq)
        assert batch is not None
        s.expunge_all()
        return item, batch


@pytest.fixture
def sealed_under_short_tsa(settings: Settings, short_tsa: TSAConfig) -> Iterator[tuple[VaultContext, str]]:
    short = open_ctx(with_settings(settings, tsas=(short_tsa,)))
    try:
        item_id = _deposit(short)
        seal_pending(short)
    finally:
        short.close()
    ctx = open_ctx(settings)  # the same vault, now with the long-lived TSA
    yield ctx, item_id
    ctx.close()


def test_timestamp_renewal_keeps_an_item_provable_after_its_tsa_certificate_ends(
    sealed_under_short_tsa: tuple[VaultContext, str], settings: Settings
) -> None:
    ctx, item_id = sealed_under_short_tsa
    item, batch = _item(ctx, item_id)
    assert long_term(ctx, item, batch, dt.datetime.now(dt.UTC)).valid
    before = long_term(ctx, item, batch, LATER)
    assert before.status == "not_provable", before.as_json()
    assert "Short-lived TSA" in before.reason or "expired" in before.reason or "ended" in before.reason, before.reason

    result = renew(ctx)
    assert [r["kind"] for r in result.timestamp_renewals] == ["timestamp"]
    assert len(result.timestamp_renewals) == 1, "one token for every chain due"
    after = long_term(ctx, item, batch, LATER)
    assert after.valid, after.as_json()
    assert len(after.timestamps) == 2
    # the renewal's own TSA certificate ends too: ten years on, it needs renewing again
    far = long_term(ctx, item, batch, NOW + dt.timedelta(days=365 * 11))
    assert far.status == "not_provable"
    # nothing is due now any more: a second run stamps nothing
    again = renew(ctx)
    assert again.timestamp_renewals == [] and again.hash_renewals == []

    # the CLI says the same (exit 0 valid, 1 not provable)
    r = run_cli(settings, "verify", item_id, "--at", LATER.date().isoformat(), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["long_term"]["ok"] and "provable as of" in checks["long_term"]["detail"]
    r = run_cli(settings, "verify", item_id, "--at", (NOW + dt.timedelta(days=365 * 11)).date().isoformat())
    assert r.returncode == 1 and b"not provable" in r.stdout


def test_the_renewal_is_written_worm_and_journalled(sealed_under_short_tsa: tuple[VaultContext, str]) -> None:
    ctx, _ = sealed_under_short_tsa
    renew(ctx)
    with ctx.sessions() as s:
        stamp = s.scalars(select(ArchiveStamp)).one()
        leaves = s.scalars(select(StampLeaf).where(StampLeaf.stamp_seq == stamp.seq)).all()
    versions = json.loads(stamp.versions)
    body = json.loads(ctx.store.get(stamp.object_prefix + "renewal.json", versions["renewal.json"]))
    assert body["type"] == "vault-renewal/1" and len(body["leaves"]) == len(leaves)
    assert ctx.store.get(stamp.object_prefix + "timestamp.tsr", versions["timestamp.tsr"]) == stamp.tsr
    from vault.index.models import JournalEntry

    with ctx.sessions() as s:
        assert s.scalars(select(JournalEntry).where(JournalEntry.action == "renew_timestamp")).first() is not None


def test_a_tsa_outage_writes_nothing(sealed_under_short_tsa: tuple[VaultContext, str], settings: Settings) -> None:
    ctx, _ = sealed_under_short_tsa
    down = open_ctx(
        with_settings(settings, tsas=(TSAConfig(url="http://127.0.0.1:9/tsa", ca=settings.tsas[0].ca, timeout=1.0),))
    )
    try:
        with pytest.raises(TSAUnavailable):
            renew(down)
    finally:
        down.close()
    with ctx.sessions() as s:
        assert s.scalars(select(ArchiveStamp)).first() is None


def test_a_rewritten_renewal_leaf_is_a_failed_check_not_a_pass(
    sealed_under_short_tsa: tuple[VaultContext, str],
) -> None:
    ctx, item_id = sealed_under_short_tsa
    _deposit(ctx, b"another document\n")
    seal_pending(ctx)  # a second batch: the renewal tree has two leaves or more
    renew(ctx, force=True)
    item, batch = _item(ctx, item_id)
    with ctx.sessions() as s:  # rewrite a sibling's leaf: the item's path no longer reaches the token
        s.execute(update(StampLeaf).where(StampLeaf.covers != f"batch:{batch.seq}").values(leaf=b"\x01" * 32))
        s.commit()
    from vault.renewal.chains import TREES

    TREES._trees.clear()
    report = long_term(ctx, item, batch, LATER)
    assert report.status == "invalid", report.as_json()


def test_hash_tree_renewal_when_sha256_is_marked_weak(ctx: VaultContext, settings: Settings) -> None:
    item_id = _deposit(ctx)
    seal_pending(ctx)
    weak_from = NOW + dt.timedelta(days=1)
    weak = open_ctx(with_settings(settings, weak_algorithms=(("sha256", weak_from),)))
    try:
        item, batch = _item(weak, item_id)
        when = weak_from + dt.timedelta(days=1)
        before = long_term(weak, item, batch, when)
        assert before.status == "not_provable" and "sha256" in before.reason, before.as_json()
        result = renew(weak)
        assert [r["algorithm"] for r in result.hash_renewals] == ["sha512"]
        after = long_term(weak, item, batch, when)
        assert after.valid, after.as_json()
        # a later run finds nothing weak left to re-hash
        assert renew(weak).hash_renewals == []
    finally:
        weak.close()


@pytest.fixture(scope="module")
def bc(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from ers_support import compile_checker

    return compile_checker(tmp_path_factory.mktemp("ers-java-renewal"))


def test_the_renewed_proof_folder_is_accepted_by_bouncy_castle_and_verifies_later(
    sealed_under_short_tsa: tuple[VaultContext, str],
    tmp_path: Path,
    bc,  # type: ignore[no-untyped-def]
) -> None:
    from vault.proof.export import export_proof
    from vault.verify.bundle import verify_bundle

    ctx, item_id = sealed_under_short_tsa
    old = export_proof(ctx, item_id, tmp_path / "before")
    renew(ctx)
    new = export_proof(ctx, item_id, tmp_path / "after")
    verdict = bc.verdict(new / "certs/tsa-ca.pem", new / "evidence-record.ers", new / "evidence.json")
    assert verdict.startswith("OK "), verdict
    # the record grew by one archive timestamp; one byte of the data changed: BC refuses
    assert len((new / "evidence-record.ers").read_bytes()) > len((old / "evidence-record.ers").read_bytes())
    data = bytearray((new / "evidence.json").read_bytes())
    data[10] ^= 1
    (tmp_path / "forged.json").write_bytes(bytes(data))
    assert bc.verdict(new / "certs/tsa-ca.pem", new / "evidence-record.ers", tmp_path / "forged.json").startswith(
        "FAIL"
    )

    later = verify_bundle(new, at=LATER)
    checks = {c.name: c for c in later.checks}
    assert checks["evidence_record"].ok, checks["evidence_record"].detail
    before = {c.name: c for c in verify_bundle(old, at=LATER).checks}
    assert not before["evidence_record"].ok and "not provable" in before["evidence_record"].detail
