"""KEK epochs: erasure reaches index backups (issue 12, finding 3), the wrapping is bound to its
row, caches follow erasures made by other processes, journal pseudonyms are erasable.

Against the real SeaweedFS and TSA, on SQLite and PostgreSQL, with the epoch keys in files and
in a SoftHSM2 token (PKCS#11).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from conftest import open_ctx, run_cli, with_settings
from kek_support import SoftHSM
from vault.access.principal import Principal, Role
from vault.config import Settings
from vault.context import VaultContext
from vault.envelope.keyring import DataKeyBinding
from vault.errors import KeyError_, StorageError
from vault.index.models import Item, JournalEntry, KekEpoch, PseudonymKey, SubjectKey
from vault.keys import datakeys, rotation
from vault.keys.kek.store import EpochKeyMissing
from vault.privacy.shredding import destroy_key
from vault.proof.payload import PayloadRead
from vault.retention.contract import create_tenant
from vault.service import subjects
from vault_support import DRILL, bucket_objects, index_rows, put_file

DPO = Principal("dpo@acme", Role.DPO, tenant="acme")


#: the tests that must hold for both KEK stores (the others exercise the logic above the store)
BOTH_STORES = pytest.mark.parametrize("kek_settings", ["file", "pkcs11"], indirect=True)


@pytest.fixture
def kek_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    base = with_settings(settings, drill_lock_seconds=DRILL)
    if getattr(request, "param", "file") == "pkcs11":
        hsm: SoftHSM = request.getfixturevalue("softhsm")
        return hsm.settings(base)
    return base


@pytest.fixture
def vctx(kek_settings: Settings) -> Iterator[VaultContext]:
    c = open_ctx(kek_settings)
    create_tenant(c, "acme", 20)
    yield c
    c.close()


def content(ctx: VaultContext, item_id: str) -> bytes:
    with ctx.sessions() as s:
        row = s.scalars(select(Item).where(Item.id == item_id)).one()
    return b"".join(PayloadRead(ctx, row).plaintext())


# -- backing up and restoring the index, both databases -----------------------------------------
def _pg_target(url: str) -> tuple[list[str], str]:
    u = urllib.parse.urlparse(url.replace("postgresql+psycopg", "postgresql"))
    schema = urllib.parse.parse_qs(u.query)["options"][0].split("=", 1)[1]
    conn = ["-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]
    return [*conn, "-d", u.path.lstrip("/")], schema


def backup_index(ctx: VaultContext, dest: Path) -> None:
    """What an operator's backup job does: sqlite3's online backup, or pg_dump."""
    url = ctx.settings.database_url
    if url.startswith("sqlite"):
        src = sqlite3.connect(url.removeprefix("sqlite:///"))
        with sqlite3.connect(dest) as dst:
            src.backup(dst)
        src.close()
        return
    conn, schema = _pg_target(url)
    subprocess.run(["pg_dump", *conn, "-n", schema, "-Fc", "-f", str(dest)], check=True, capture_output=True)


def restore_index(settings: Settings, backup: Path) -> None:
    url = settings.database_url
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        shutil.copyfile(backup, path)
        return
    conn, schema = _pg_target(url)
    subprocess.run(["psql", *conn, "-c", f'DROP SCHEMA "{schema}" CASCADE'], check=True, capture_output=True)
    subprocess.run(["pg_restore", *conn, str(backup)], check=True, capture_output=True)


@BOTH_STORES
def test_a_restored_backup_cannot_open_the_erased_subject_but_opens_the_others(
    kek_settings: Settings, vctx: VaultContext, tmp_path: Path
) -> None:
    alice_bytes, bob_bytes = b"alice's session log\n" * 10, b"bob's session log\n" * 10
    alice, bob = put_file(vctx, "alice", alice_bytes), put_file(vctx, "bob", bob_bytes)
    first = vctx.kek.epochs()
    backup = tmp_path / "index.backup"
    backup_index(vctx, backup)
    with vctx.sessions() as s:
        alice_key = s.scalars(
            select(SubjectKey).join(Item, Item.subject_key_id == SubjectKey.id).where(Item.id == alice)
        ).one()
        wrapped_then = (alice_key.wrapped_key, DataKeyBinding("acme", "alice", alice_key.scope, alice_key.generation))
        epoch_then = alice_key.epoch

    result, _sealed = subjects.erase(vctx, DPO, "acme", "alice")
    assert result.erased == [alice] and result.keys_destroyed == 1
    rot = result.kek_rotation
    assert rot is not None and "error" not in rot, rot
    assert rot["destroyed_epochs"] == first and vctx.kek.epochs() == [rot["epoch"]]
    assert content(vctx, bob) == bob_bytes
    with pytest.raises(KeyError_, match="destroyed"):
        content(vctx, alice)
    # the wrapped key the backup holds opens under no epoch the store still has
    assert wrapped_then[0] is not None
    for e in vctx.kek.epochs():
        with pytest.raises(KeyError_):
            vctx.keyring.unwrap_data_key(wrapped_then[0], wrapped_then[1], e)
    with pytest.raises(EpochKeyMissing):
        vctx.keyring.unwrap_data_key(wrapped_then[0], wrapped_then[1], epoch_then)
    vctx.close()

    restore_index(kek_settings, backup)
    ctx = open_ctx(kek_settings)
    try:
        with pytest.raises(KeyError_):  # the backup's keys are under the destroyed epoch
            content(ctx, bob)
        restored = rotation.restore(ctx)
        assert restored.restored >= 1 and restored.lost == 1, restored
        assert content(ctx, bob) == bob_bytes  # the others' data opens again
        with pytest.raises(KeyError_, match="destroyed"):
            content(ctx, alice)  # the erased subject's never does
        with ctx.sessions() as s:
            names = s.scalars(select(SubjectKey.subject)).all()
        assert "alice" not in names
        carol = put_file(ctx, "carol", b"after the restore")
        assert content(ctx, carol) == b"after the restore"
    finally:
        ctx.close()


@BOTH_STORES
def test_an_erasure_is_reversible_from_a_backup_until_the_rotation_and_says_so(
    vctx: VaultContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = put_file(vctx, "alice", b"alice")
    with vctx.sessions() as s:
        row = s.scalars(
            select(SubjectKey).join(Item, Item.subject_key_id == SubjectKey.id).where(Item.id == alice)
        ).one()
        wrapped, binding, epoch = row.wrapped_key, DataKeyBinding("acme", "alice", row.scope, row.generation), row.epoch

    def broken(*a: Any, **k: Any) -> Any:
        raise StorageError("the object store does not answer")

    monkeypatch.setattr(rotation, "_write_snapshot", broken)
    result, _ = subjects.erase(vctx, DPO, "acme", "alice")
    assert result.keys_destroyed == 1
    assert result.kek_rotation is not None and "error" in result.kek_rotation
    assert wrapped is not None
    vctx.keyring.unwrap_data_key(wrapped, binding, epoch)  # a backup's copy still opens: not yet irreversible
    monkeypatch.undo()
    done = rotation.rotate(vctx, reason="retry")
    assert epoch in done.destroyed_epochs
    with pytest.raises(EpochKeyMissing):
        vctx.keyring.unwrap_data_key(wrapped, binding, epoch)


def test_an_interrupted_rotation_loses_nothing_and_the_next_one_finishes(
    vctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = {put_file(vctx, f"person-{i}-martin", f"data {i}".encode()): f"data {i}".encode() for i in range(4)}
    before = vctx.kek.epochs()
    monkeypatch.setattr(rotation, "CHUNK", 2)
    calls = {"n": 0}
    real = rotation._write_snapshot

    def crash(ctx: VaultContext, epoch: int) -> str:
        calls["n"] += 1
        raise StorageError("crash after re-wrapping")

    monkeypatch.setattr(rotation, "_write_snapshot", crash)
    with pytest.raises(StorageError):
        rotation.rotate(vctx, reason="test")
    assert set(before) < set(vctx.kek.epochs())  # nothing destroyed
    assert all(content(vctx, i) == b for i, b in ids.items())
    monkeypatch.setattr(rotation, "_write_snapshot", real)
    done = rotation.rotate(vctx, reason="test")
    assert vctx.kek.epochs() == [done.epoch] and set(before) <= set(done.destroyed_epochs)
    assert all(content(vctx, i) == b for i, b in ids.items())
    with vctx.sessions() as s:
        assert set(s.scalars(select(SubjectKey.epoch).where(SubjectKey.wrapped_key.is_not(None))).all()) == {done.epoch}
        snap = json.loads(vctx.store.get(done.snapshot, vctx.store.versions(done.snapshot)[0][0]))
    assert snap["epoch"] == done.epoch and len(snap["subject_keys"]) == 4
    assert "person-0-martin" not in json.dumps(snap)  # no subject names in the snapshot


# -- the wrapping is bound to its row ---------------------------------------------------------
def test_a_wrapped_key_moved_to_another_row_or_relabelled_does_not_unwrap(vctx: VaultContext) -> None:
    a_id, _ = vctx.data_keys.data_key("acme", "alice", "support")
    b_id, _ = vctx.data_keys.data_key("acme", "bob", "support")
    c_id, _ = vctx.data_keys.data_key("acme", "alice", "transaction_proof")
    with vctx.sessions() as s:
        a, b, c = (s.get(SubjectKey, i) for i in (a_id, b_id, c_id))
        assert a and b and c
        blobs = {i: r.wrapped_key for i, r in ((a_id, a), (b_id, b), (c_id, c))}
        epoch = a.epoch
    cases = {
        "another subject's row": (b_id, {"wrapped_key": blobs[a_id]}),
        "another purpose scope": (c_id, {"wrapped_key": blobs[a_id]}),
        "another generation": (a_id, {"generation": 2}),
        "another epoch": (a_id, {"epoch": epoch + 1}),
        "another tenant": (a_id, {"tenant_id": "beta"}),
    }
    for what, (kid, change) in cases.items():
        with vctx.sessions() as s:
            original = {k: getattr(s.get(SubjectKey, kid), k) for k in change}
            if "tenant_id" in change:
                create_tenant(vctx, "beta", 20)
            s.execute(update(SubjectKey).where(SubjectKey.id == kid).values(**change))
            s.commit()
        with pytest.raises(KeyError_):
            vctx.data_keys.by_id(kid)
        with vctx.sessions() as s:
            s.execute(update(SubjectKey).where(SubjectKey.id == kid).values(**original))
            s.commit()
        assert vctx.data_keys.by_id(kid)[1] is not None, what


@BOTH_STORES
def test_a_key_destroyed_by_another_process_leaves_this_ones_cache(
    kek_settings: Settings, vctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datakeys, "RECHECK_SECONDS", 0.0)
    kid, dek = vctx.data_keys.data_key("acme", "alice", "support")
    assert vctx.data_keys.data_key("acme", "alice", "support") == (kid, dek)  # cached
    other = open_ctx(kek_settings)  # another process's context on the same index and store
    try:
        with other.sessions() as s:
            row = s.get(SubjectKey, kid)
            assert row is not None
            assert destroy_key(s, other, row, other.now())
            s.commit()
    finally:
        other.close()
    new_id, new_dek = vctx.data_keys.data_key("acme", "alice", "support")
    assert new_id != kid and new_dek != dek  # a new generation, not the destroyed key from the cache
    assert dek not in [v for _, v in vctx.data_keys._cache.values()]


# -- erasable journal pseudonyms ----------------------------------------------------------------
def test_after_erasure_the_journal_proves_what_happened_but_no_longer_to_whom(vctx: VaultContext) -> None:
    item = put_file(vctx, "alice-martin", b"alice's log")
    with vctx.sessions() as s:
        ref = s.scalars(select(JournalEntry.subject_ref).where(JournalEntry.action == "deposit")).first()
    assert ref and ref == vctx.pseudonyms.existing("acme", "alice-martin")
    result, _ = subjects.erase(vctx, DPO, "acme", "alice-martin")
    assert result.erased == [item] and result.pseudonym_destroyed
    assert vctx.pseudonyms.existing("acme", "alice-martin") is None
    with vctx.sessions() as s:
        erase_entry = s.scalars(select(JournalEntry).where(JournalEntry.action == "subject_erase")).one()
        assert erase_entry.subject_ref == ref  # the entries still count and prove the request...
        prow = s.scalars(select(PseudonymKey)).all()
    assert [(p.subject, p.wrapped_key) for p in prow] == [("#" + ref, None)]
    # ...but nothing the vault keeps can recompute the pseudonym from the name any more, and
    # the name is nowhere the vault wrote: not in the index, not in any object version
    places = {**index_rows(vctx), **bucket_objects(vctx)}
    assert any(k.startswith("batches/") for k in places) and any(".manifest.json" in k for k in places)
    assert [where for where, data in places.items() if b"alice-martin" in data] == []
    again = put_file(vctx, "alice-martin", b"a new deposit after the erasure")
    assert again and vctx.pseudonyms.existing("acme", "alice-martin") not in (None, ref)


def test_a_subject_with_a_kept_purpose_keeps_its_pseudonym(vctx: VaultContext) -> None:
    put_file(vctx, "bob", b"bob's log")
    put_file(vctx, "bob", b"signed quote", kind="transaction_proof")
    ref = vctx.pseudonyms.existing("acme", "bob")
    result, _ = subjects.erase(vctx, DPO, "acme", "bob")
    assert len(result.erased) == 1 and len(result.refused) == 1
    assert not result.pseudonym_destroyed and vctx.pseudonyms.existing("acme", "bob") == ref


# -- the token and the CLI ------------------------------------------------------------------------
def test_epoch_keys_in_the_token_are_sensitive_and_never_leave_it(softhsm: SoftHSM, settings: Settings) -> None:
    import pkcs11

    from vault.keys.kek.pkcs11 import Pkcs11KekStore

    label = "t-attrs"
    store = Pkcs11KekStore(softhsm.library, softhsm.token, pin=softhsm.pin_file.read_text().strip(), key_label=label)
    store.create(7)
    blob = store.wrap(7, b"k" * 32, b"aad")
    other = Pkcs11KekStore(softhsm.library, softhsm.token, pin=softhsm.pin_file.read_text().strip(), key_label=label)
    assert other.unwrap(7, blob, b"aad") == b"k" * 32
    with pytest.raises(KeyError_):
        other.unwrap(7, blob, b"aaX")
    # PKCS#11 logs in per process: this session shares the stores' login
    with pkcs11.lib(softhsm.library).get_token(token_label=softhsm.token).open() as s:
        key = s.get_key(object_class=pkcs11.ObjectClass.SECRET_KEY, label=f"{label}-7")
        assert key[pkcs11.Attribute.SENSITIVE] is True and key[pkcs11.Attribute.EXTRACTABLE] is False
        with pytest.raises(pkcs11.PKCS11Error):
            key[pkcs11.Attribute.VALUE]
    store.destroy(7)
    with pytest.raises(EpochKeyMissing):
        other.unwrap(7, blob, b"aad")  # destroyed for every session, not only the one that destroyed it
    assert other.epochs() == []


@BOTH_STORES
def test_cli_status_and_rotate(kek_settings: Settings, vctx: VaultContext) -> None:
    put_file(vctx, "alice", b"x")
    r = run_cli(kek_settings, "kek", "status", "--json")
    assert r.returncode == 0, r.stderr
    before = json.loads(r.stdout)
    assert before["live_data_keys"] == 1 and before["hardware_backed"] == (kek_settings.kek_store == "pkcs11")
    r = run_cli(kek_settings, "kek", "rotate")
    assert r.returncode == 0, r.stderr
    assert "2 key(s) re-wrapped" in r.stdout.decode()  # the data key and the pseudonym key
    after = json.loads(run_cli(kek_settings, "kek", "status", "--json").stdout)
    assert after["current_epoch"] == before["current_epoch"] + 1
    assert after["epochs_in_store"] == [after["current_epoch"]]
    with vctx.sessions() as s:
        states = dict(s.execute(select(KekEpoch.epoch, KekEpoch.state)).all())
    assert states == {before["current_epoch"]: "destroyed", after["current_epoch"]: "current"}


# -- an index from before epochs, and the schedule ---------------------------------------------------
def test_an_index_from_before_epochs_reads_its_kek_file_as_epoch_0_until_the_first_rotation(
    settings: Settings,
) -> None:
    import datetime as dt
    import os

    from alembic import command
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from sqlalchemy import create_engine

    from vault.index.db import _alembic_config
    from vault.runtime.kek_runner import KekRunner, rotation_due

    kek = os.urandom(32)
    settings.kek.parent.mkdir(parents=True, exist_ok=True)
    settings.kek.write_text(kek.hex() + "\n")
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:  # the schema of the previous release, with one key wrapped then
        cfg = _alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(
            text("INSERT INTO tenants (id, proof_years, created_at) VALUES ('acme', 20, :t)"),
            {"t": dt.datetime(2026, 1, 1)},
        )
        dek, nonce = os.urandom(32), os.urandom(12)
        wrapped = nonce + AESGCM(kek).encrypt(nonce, dek, DataKeyBinding("acme", "alice", "support", 1).aad(0))
        conn.execute(
            text(
                "INSERT INTO subject_keys (tenant_id, subject, scope, generation, wrapped_key, kek_id, created_at) "
                "VALUES ('acme', 'alice', 'support', 1, :w, 'old', :t)"
            ),
            {"w": wrapped, "t": dt.datetime(2026, 1, 1)},
        )
    engine.dispose()
    ctx = open_ctx(settings)  # migrates to the head: epoch 0 is current
    try:
        with ctx.sessions() as s:
            row = s.scalars(select(SubjectKey)).one()
            assert row.epoch == 0
        assert ctx.data_keys.by_id(row.id)[1] == dek
        assert rotation_due(ctx, ctx.now()) == "the pre-epoch KEK is still current"
        result = KekRunner(ctx).run_once()
        assert isinstance(result, rotation.RotationResult) and result.destroyed_epochs == [0]
        assert not settings.kek.exists()  # the single KEK file is gone with its epoch
        assert ctx.data_keys.by_id(row.id)[1] == dek  # re-wrapped under the new epoch, with the v2 binding
        assert rotation_due(ctx, ctx.now()) is None
        later = ctx.now() + dt.timedelta(days=settings.kek_rotate_days + 1)
        assert rotation_due(ctx, later) == f"epoch {result.epoch} is older than 30 days"
    finally:
        ctx.close()
