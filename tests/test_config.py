"""Settings: embedded defaults, config.toml, VAULT_* overrides and validation."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from vault.config import EMBEDDED, MiB, Settings, TSAConfig, load_settings, write_default_config
from vault.errors import ConfigError


def write_cfg(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


def test_empty_home_gives_embedded_defaults(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    keys = tmp_path / "keys"
    assert isinstance(s, Settings)
    assert s.home == tmp_path
    assert s.database_url == f"sqlite:///{tmp_path / 'index.sqlite3'}"
    assert s.s3_endpoint == EMBEDDED
    assert s.bucket == "evidence"
    assert s.lock_mode == "COMPLIANCE"
    assert s.default_proof_years == 15
    assert s.retention_policy is None and s.drill_lock_seconds == 0
    assert s.part_size >= 5 * MiB
    assert (s.seal_cert, s.seal_key, s.seal_ca) == (keys / "seal.pem", keys / "seal.key", keys / "seal-ca.pem")
    assert s.kek == keys / "kek.key"
    assert (s.tsa_cert, s.tsa_key) == (keys / "tsa.pem", keys / "tsa.key")
    assert s.tsas == (TSAConfig(url=EMBEDDED, ca=keys / "tsa-ca.pem", cert=keys / "tsa.pem", self_operated=True),)
    assert (s.keys_dir, s.run_dir, s.config_file) == (keys, tmp_path / "run", tmp_path / "config.toml")
    assert s.state_file == tmp_path / "run" / "state.json"
    assert not (tmp_path / "config.toml").exists()  # loading never writes


def test_relative_home_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(Path("rel-home"), env={})
    assert s.home == tmp_path / "rel-home"
    assert s.kek == tmp_path / "rel-home" / "keys" / "kek.key"


def test_home_from_vault_home_env(tmp_path: Path) -> None:
    s = load_settings(env={"VAULT_HOME": str(tmp_path / "h")})
    assert s.home == tmp_path / "h"
    # an explicit home wins over VAULT_HOME
    assert load_settings(tmp_path / "explicit", env={"VAULT_HOME": str(tmp_path / "h")}).home == tmp_path / "explicit"


def test_explicit_env_ignores_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_BUCKET", "from-process")
    assert load_settings(tmp_path, env={}).bucket == "evidence"
    assert load_settings(tmp_path).bucket == "from-process"


# -- write_default_config --------------------------------------------------------------------


def test_write_default_config_creates_private_file(tmp_path: Path) -> None:
    home = tmp_path / "new-home"
    cfg = write_default_config(home)
    assert cfg == home / "config.toml"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    tomllib.loads(cfg.read_text())  # valid TOML


def test_write_default_config_is_idempotent(tmp_path: Path) -> None:
    cfg = write_default_config(tmp_path)
    first = cfg.read_text()
    assert write_default_config(tmp_path) == cfg
    assert cfg.read_text() == first  # not regenerated (the S3 secret would change)
    cfg.write_text('bucket = "edited"\n')
    write_default_config(tmp_path)
    assert cfg.read_text() == 'bucket = "edited"\n'


def test_default_config_reads_back(tmp_path: Path) -> None:
    write_default_config(tmp_path)
    s = load_settings(tmp_path, env={})
    keys = tmp_path / "keys"
    assert s.database_url == f"sqlite:///{tmp_path / 'index.sqlite3'}"
    assert s.s3_endpoint == EMBEDDED
    assert s.s3_access_key.startswith("vault-")
    assert len(s.s3_secret_key) >= 30
    assert s.bucket == "evidence"
    assert s.lock_mode == "COMPLIANCE"
    assert s.batch_max_items == 10000
    assert s.batch_max_seconds == 5.0
    assert s.seal_cert == keys / "seal.pem"
    assert s.kek == keys / "kek.key"
    assert s.tsas == (TSAConfig(url=EMBEDDED, ca=keys / "tsa-ca.pem", cert=keys / "tsa.pem", self_operated=True),)


def test_each_default_config_has_its_own_credentials(tmp_path: Path) -> None:
    write_default_config(tmp_path / "a")
    write_default_config(tmp_path / "b")
    a, b = load_settings(tmp_path / "a", env={}), load_settings(tmp_path / "b", env={})
    assert a.s3_access_key != b.s3_access_key
    assert a.s3_secret_key != b.s3_secret_key


# -- overrides -------------------------------------------------------------------------------


def test_env_overrides_int_float_str_and_path_keys(tmp_path: Path) -> None:
    env = {
        "VAULT_BATCH_MAX_ITEMS": "42",
        "VAULT_BATCH_MAX_SECONDS": "0.25",
        "VAULT_DEFAULT_PROOF_YEARS": "30",
        "VAULT_PART_SIZE": str(8 * MiB),
        "VAULT_BUCKET": "other-bucket",
        "VAULT_S3_ENDPOINT": "https://s3.example.net",
        "VAULT_LOCK_MODE": "GOVERNANCE",
        "VAULT_DATABASE_URL": "postgresql+psycopg://u@db/vault",
        "VAULT_SEAL_CERT": "certs/seal.pem",
        "VAULT_KEK": "/etc/vault/kek.key",
    }
    s = load_settings(tmp_path, env=env)
    assert s.batch_max_items == 42
    assert isinstance(s.batch_max_items, int)
    assert s.batch_max_seconds == 0.25
    assert s.default_proof_years == 30
    assert s.part_size == 8 * MiB
    assert s.bucket == "other-bucket"
    assert s.s3_endpoint == "https://s3.example.net"
    assert s.lock_mode == "GOVERNANCE"
    assert s.database_url == "postgresql+psycopg://u@db/vault"
    assert s.seal_cert == tmp_path / "certs" / "seal.pem"  # relative to the home
    assert s.kek == Path("/etc/vault/kek.key")
    assert s.seal_key == tmp_path / "keys" / "seal.key"  # untouched keys keep defaults


def test_env_overrides_config_file(tmp_path: Path) -> None:
    write_cfg(tmp_path, 'bucket = "from-file"\nbatch_max_items = 7\nseal_key = "k/seal.key"\n')
    s = load_settings(tmp_path, env={})
    assert (s.bucket, s.batch_max_items, s.seal_key) == ("from-file", 7, tmp_path / "k" / "seal.key")
    s = load_settings(tmp_path, env={"VAULT_BUCKET": "from-env", "VAULT_BATCH_MAX_ITEMS": "9"})
    assert (s.bucket, s.batch_max_items) == ("from-env", 9)
    assert s.seal_key == tmp_path / "k" / "seal.key"


def test_home_tilde_paths_expand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    s = load_settings(tmp_path, env={"VAULT_KEK": "~/kek.key"})
    assert s.kek == tmp_path / "user" / "kek.key"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("VAULT_BATCH_MAX_ITEMS", "ten"),
        ("VAULT_BATCH_MAX_ITEMS", "1.5"),
        ("VAULT_BATCH_MAX_ITEMS", ""),
        ("VAULT_PART_SIZE", "8MiB"),
        ("VAULT_DEFAULT_PROOF_YEARS", "fifteen"),
        ("VAULT_BATCH_MAX_SECONDS", "soon"),
    ],
)
def test_invalid_numbers_refused(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path, env={key: value})
    assert key.removeprefix("VAULT_").lower() in str(e.value)


def test_invalid_number_in_config_file_refused(tmp_path: Path) -> None:
    write_cfg(tmp_path, 'batch_max_items = "many"\n')
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env={})


@pytest.mark.parametrize("mode", ["compliance", "Governance", "LEGAL_HOLD", "", "NONE"])
def test_lock_mode_must_be_compliance_or_governance(tmp_path: Path, mode: str) -> None:
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env={"VAULT_LOCK_MODE": mode})


@pytest.mark.parametrize("mode", ["COMPLIANCE", "GOVERNANCE"])
def test_lock_modes_accepted(tmp_path: Path, mode: str) -> None:
    assert load_settings(tmp_path, env={"VAULT_LOCK_MODE": mode}).lock_mode == mode


@pytest.mark.parametrize("years", ["14", "100", "0", "-15"])
def test_default_proof_years_out_of_range(tmp_path: Path, years: str) -> None:
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env={"VAULT_DEFAULT_PROOF_YEARS": years})


@pytest.mark.parametrize("years", ["15", "99"])
def test_default_proof_years_bounds_accepted(tmp_path: Path, years: str) -> None:
    assert load_settings(tmp_path, env={"VAULT_DEFAULT_PROOF_YEARS": years}).default_proof_years == int(years)


def test_default_proof_years_14_in_config_file(tmp_path: Path) -> None:
    write_cfg(tmp_path, "default_proof_years = 14\n")
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env={})


@pytest.mark.parametrize(
    "env",
    [
        {"VAULT_PART_SIZE": str(5 * MiB - 1)},
        {"VAULT_BATCH_MAX_ITEMS": "0"},
        {"VAULT_BATCH_MAX_SECONDS": "0"},
        {"VAULT_BATCH_MAX_SECONDS": "-1"},
    ],
)
def test_other_validation(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env=env)


@pytest.mark.parametrize(
    "text",
    ["bucket = ", "bucket = unquoted", "[[tsa]\nurl = 'x'", 'bucket = "a"\nbucket = "b"\n', "= 1"],
)
def test_invalid_toml_refused(tmp_path: Path, text: str) -> None:
    write_cfg(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path, env={})
    assert "TOML" in str(e.value)


# -- TSAs ------------------------------------------------------------------------------------


def test_vault_tsa_urls_parsing(tmp_path: Path) -> None:
    env = {"VAULT_TSA_URLS": "http://tsa1.example/tsr|ca1.pem,https://tsa2.example|/etc/ca2.pem|tsa2.pem,"}
    s = load_settings(tmp_path, env=env)
    assert s.tsas == (
        TSAConfig(url="http://tsa1.example/tsr", ca=tmp_path / "ca1.pem", cert=None),
        TSAConfig(url="https://tsa2.example", ca=Path("/etc/ca2.pem"), cert=tmp_path / "tsa2.pem"),
    )
    assert all(t.timeout == 10.0 for t in s.tsas)


def test_vault_tsa_urls_overrides_config_file_tsas(tmp_path: Path) -> None:
    write_cfg(tmp_path, '[[tsa]]\nurl = "http://file.example"\nca = "f.pem"\ntimeout = 3\n')
    s = load_settings(tmp_path, env={})
    assert s.tsas == (TSAConfig(url="http://file.example", ca=tmp_path / "f.pem", cert=None, timeout=3.0),)
    s = load_settings(tmp_path, env={"VAULT_TSA_URLS": "embedded|keys/tsa-ca.pem"})
    assert s.tsas == (TSAConfig(url=EMBEDDED, ca=tmp_path / "keys" / "tsa-ca.pem"),)


@pytest.mark.parametrize(
    "spec",
    ["http://tsa.example", "http://a.example|ca.pem,http://b.example", "just-a-word"],
)
def test_vault_tsa_urls_malformed_entry(tmp_path: Path, spec: str) -> None:
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env={"VAULT_TSA_URLS": spec})


@pytest.mark.parametrize("spec", ["http://tsa.example|", "|ca.pem"])
def test_vault_tsa_urls_empty_url_or_ca_refused(tmp_path: Path, spec: str) -> None:
    # "url|" would otherwise make the home directory itself the TSA trust anchor path
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env={"VAULT_TSA_URLS": spec})


@pytest.mark.parametrize(
    "text",
    [
        '[[tsa]]\nurl = "http://x.example"\n',
        '[[tsa]]\nca = "ca.pem"\n',
        'tsa = ["http://x.example"]\n',
    ],
)
def test_tsa_entry_without_url_or_ca_refused(tmp_path: Path, text: str) -> None:
    write_cfg(tmp_path, text)
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env={})


def test_tsa_invalid_timeout_is_a_config_error(tmp_path: Path) -> None:
    write_cfg(tmp_path, '[[tsa]]\nurl = "http://x.example"\nca = "ca.pem"\ntimeout = "soon"\n')
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env={})


def test_unknown_settings_are_refused_not_ignored(tmp_path: Path) -> None:
    write_cfg(tmp_path, "retention_interval_hour = 1\n")  # a typo must not fall back to the default
    with pytest.raises(ConfigError, match="unknown settings") as e:
        load_settings(tmp_path, env={})
    assert e.value.detail == "retention_interval_hour"


def test_retired_operational_months_is_accepted_at_its_old_value_only(tmp_path: Path) -> None:
    write_cfg(tmp_path, "operational_months = 12\n")  # written by `vault init` before the policy file
    assert load_settings(tmp_path, env={}).retention_policy is None
    write_cfg(tmp_path, "operational_months = 18\n")
    with pytest.raises(ConfigError, match="operational_months is no longer a setting"):
        load_settings(tmp_path, env={})


@pytest.mark.parametrize(("key", "value"), [("drill_lock_seconds", "-1"), ("retention_interval_hours", "745")])
def test_retention_settings_bounds(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_settings(tmp_path, env={"VAULT_" + key.upper(): value})


def test_a_setting_appended_below_the_tsa_table_is_refused(tmp_path: Path) -> None:
    write_cfg(tmp_path, '[[tsa]]\nurl = "embedded"\nca = "keys/tsa-ca.pem"\noperational_months = 24\n')
    with pytest.raises(ConfigError, match=r"unknown keys in a \[\[tsa\]\] entry") as e:
        load_settings(tmp_path, env={})
    assert e.value.detail == "operational_months"
