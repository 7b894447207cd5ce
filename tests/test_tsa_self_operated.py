"""The built-in TSA is the operator's own: reported as "self-operated, not independent" in
settings, `vault status`, online and offline verification (text and JSON) and proof folders."""

from __future__ import annotations

import io
import json
from pathlib import Path

from conftest import run_cli
from vault.batch.sealer import seal_pending
from vault.config import EMBEDDED, Settings, TSAConfig, load_settings, write_default_config
from vault.context import VaultContext, own_tsa_fingerprints
from vault.errors import ConfigError
from vault.ingest.common import validate
from vault.ingest.files import deposit_stream
from vault.keys.pki import DevPKI, load_cert
from vault.proof.export import export_proof
from vault.seal.identity import fingerprint
from vault.verify.bundle import verify_bundle
from vault.verify.online import verify_item

NOTE = "self-operated, not independent"


def _item(ctx: VaultContext) -> str:
    req = validate(tenant="acme", session="s-1", kind="signed_document", subject="ann")
    item_id = deposit_stream(ctx, io.BytesIO(b"an intervention report\n"), req).item_id
    seal_pending(ctx)
    return item_id


def test_init_config_flags_the_built_in_tsa(tmp_path: Path) -> None:
    write_default_config(tmp_path)
    assert "self_operated = true" in (tmp_path / "config.toml").read_text()
    s = load_settings(tmp_path, env={})
    [t] = s.tsas
    assert t.url == EMBEDDED and t.self_operated and s.tsa_self_operated(t)


def test_which_tsas_are_self_operated(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[[tsa]]\nurl = "https://tsa.example"\nca = "ext-ca.pem"\n\n'
        '[[tsa]]\nurl = "https://own.example/tsa"\nca = "own-ca.pem"\nself_operated = true\n\n'
        '[[tsa]]\nurl = "http://127.0.0.1:9/tsa"\nca = "keys/tsa-ca.pem"\ncert = "keys/tsa.pem"\n'
    )
    s = load_settings(tmp_path, env={})
    assert [s.tsa_self_operated(t) for t in s.tsas] == [False, True, True]  # the last: the vault's tsa_cert
    (tmp_path / "config.toml").write_text('[[tsa]]\nurl = "x"\nca = "y"\nself_operated = "yes"\n')
    try:
        load_settings(tmp_path, env={})
    except ConfigError as e:
        assert "self_operated" in str(e)
    else:
        raise AssertionError("a non-boolean self_operated was accepted")


def test_own_tsa_fingerprints_are_the_keys_folder_certificate(settings: Settings, pki: DevPKI) -> None:
    own = fingerprint(load_cert(pki.tsa.cert))
    assert own_tsa_fingerprints(settings) == {own}
    external = TSAConfig(url="https://tsa.example", ca=pki.tsa_ca.cert, cert=None)
    elsewhere = Settings(home=settings.home, database_url="sqlite://", tsas=(external,), tsa_cert=Path("/nonexistent"))
    assert own_tsa_fingerprints(elsewhere) == frozenset()


def test_online_verification_reports_the_built_in_tsa(ctx: VaultContext) -> None:
    report = verify_item(ctx, _item(ctx))
    assert report.valid, report.as_json()
    assert report.info["tsa"]["self_operated"] is True and NOTE in report.info["tsa"]["note"]
    assert NOTE in next(c.detail for c in report.checks if c.name == "timestamp")


def test_an_independent_tsa_is_not_flagged(ctx: VaultContext) -> None:
    ctx.own_tsa_fingerprints = frozenset()  # as if the token came from a TSA the operator does not run
    report = verify_item(ctx, _item(ctx))
    assert report.valid and report.info["tsa"]["self_operated"] is False
    assert NOTE not in next(c.detail for c in report.checks if c.name == "timestamp")


def test_proof_folder_and_offline_verification_say_so(
    ctx: VaultContext, settings: Settings, pki: DevPKI, tmp_path: Path
) -> None:
    folder = export_proof(ctx, _item(ctx), tmp_path / "proof")
    trust = json.loads((folder / "trust.json").read_text())
    assert trust["self_operated_tsa_fingerprints"] == [fingerprint(load_cert(pki.tsa.cert))]
    verify_md = (folder / "VERIFY.md").read_text()
    assert "self-operated, not independent" in verify_md
    report = verify_bundle(folder)
    assert report.valid and report.info["tsa"]["self_operated"] is True

    r = run_cli(settings, "verify", "--bundle", str(folder), "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["info"]["tsa"]["self_operated"] is True
    assert NOTE in out["info"]["tsa"]["note"]
    r = run_cli(settings, "verify", "--bundle", str(folder))
    assert r.returncode == 0 and NOTE in " ".join((r.stdout + r.stderr).decode().split())
    assert "--seal-fingerprint" in r.stderr.decode()  # not pinned: the notice says how to pin
    fp = fingerprint(ctx.sealer.cert)
    r = run_cli(settings, "verify", "--bundle", str(folder), "--seal-fingerprint", fp, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["info"]["seal_identity"] == "pinned"


def test_vault_status_reports_the_built_in_tsa(settings: Settings) -> None:
    r = run_cli(settings, "status", "--json")
    out = json.loads(r.stdout)
    assert out["tsas"] == [{"url": settings.tsas[0].url, "self_operated": True, "note": NOTE}]
    r = run_cli(settings, "status")
    assert NOTE in " ".join(r.stderr.decode().split())
