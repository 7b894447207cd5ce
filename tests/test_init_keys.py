"""`vault init` is idempotent and never replaces key material that evidence depends on."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path


def _vault(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VAULT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_init_is_idempotent_and_keeps_keys(tmp_path: Path) -> None:
    home = tmp_path / "var"
    assert _vault(home, "init").returncode == 0
    keys = home / "keys"
    before = {p.name: _digest(p) for p in keys.rglob("*") if p.is_file()}
    assert {"seal-ca.pem", "seal.pem", "seal.key", "tsa-ca.pem", "tsa.pem", "tsa.key"} <= set(before)
    assert oct((keys / "seal.key").stat().st_mode & 0o777) == "0o600"
    assert oct((keys / "kek").stat().st_mode & 0o777) == "0o700"
    assert oct((keys / "kek/epoch-1.key").stat().st_mode & 0o777) == "0o600"
    assert _vault(home, "init").returncode == 0
    assert {p.name: _digest(p) for p in keys.rglob("*") if p.is_file()} == before


def test_init_refuses_to_regenerate_part_of_a_key_set(tmp_path: Path) -> None:
    home = tmp_path / "var"
    _vault(home, "init")
    ca = _digest(home / "keys/seal-ca.pem")
    (home / "keys/seal.pem").unlink()
    r = _vault(home, "init")
    assert r.returncode == 2 and "incomplete key set" in r.stderr
    assert _digest(home / "keys/seal-ca.pem") == ca


def test_init_refuses_a_new_kek_when_wrapped_keys_exist(tmp_path: Path) -> None:
    from vault.config import load_settings
    from vault.context import VaultContext

    home = tmp_path / "var"
    _vault(home, "init")
    settings = load_settings(home)
    from dataclasses import replace

    ctx = VaultContext.open(replace(settings, s3_endpoint="http://127.0.0.1:9", tsas=()))
    from vault.tenants.registry import ensure_tenant

    ensure_tenant(ctx.sessions, "acme", proof_years=15, now=ctx.now())
    ctx.data_keys.data_key("acme", "alice", "support")  # a data key wrapped by the current KEK epoch
    ctx.close()
    epoch_file = home / "keys/kek/epoch-1.key"
    assert oct(epoch_file.stat().st_mode & 0o777) == "0o600"
    epoch_file.unlink()
    r = _vault(home, "init")
    assert r.returncode == 2 and "KEK store lacks epochs" in r.stderr
    assert not epoch_file.exists()  # no new key silently replaces the lost one
