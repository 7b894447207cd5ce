"""Shared fixtures: ONE SeaweedFS and ONE built-in TSA per test session; each test gets its own
bucket, vault home and index (a SQLite file, or a PostgreSQL schema when
``VAULT_TEST_DATABASE_URL`` points at PostgreSQL, as CI does)."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from vault.config import Settings, TSAConfig
from vault.context import VaultContext
from vault.keys.pki import DevPKI, generate_dev_pki, load_cert, load_private_key
from vault.storage.embedded import EmbeddedSeaweed
from vault.timestamp.responder import TimeStampResponder
from vault.timestamp.server import TSAServer

PG_URL = os.environ.get("VAULT_TEST_DATABASE_URL", "")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    return generate_dev_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSeaweed]:
    secret = secrets.token_hex(20)
    # one bucket per test, each taking at least one volume: small volumes, so that the number of
    # volume slots (free space / volume size) never runs out ("no free volumes left")
    sw = EmbeddedSeaweed(
        tmp_path_factory.mktemp("seaweed"),
        access_key="test-" + secrets.token_hex(4),
        secret_key=secret,
        volume_size_mb=16,
    )
    sw.start()
    yield sw
    sw.stop()


@pytest.fixture(scope="session")
def tsa_server(pki: DevPKI) -> Iterator[TSAServer]:
    responder = TimeStampResponder(load_cert(pki.tsa.cert), load_private_key(pki.tsa.key))  # type: ignore[arg-type]
    server = TSAServer(responder).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[object]:
    if not PG_URL:
        yield None
        return
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as e:  # CI must fail, never skip, when PostgreSQL is asked for but down
        pytest.fail(f"VAULT_TEST_DATABASE_URL is set but PostgreSQL does not answer: {e}")
    yield engine
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path, pg_admin: object) -> Iterator[str]:
    if pg_admin is None:
        yield f"sqlite:///{tmp_path / 'index.sqlite3'}"
        return
    schema = "t_" + uuid.uuid4().hex[:12]
    with pg_admin.begin() as c:  # type: ignore[attr-defined]
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with pg_admin.begin() as c:  # type: ignore[attr-defined]
        c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, pki: DevPKI, seaweed: EmbeddedSeaweed, tsa_server: TSAServer
) -> Settings:
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    (home / "config.toml").write_text("# test vault\n")
    return Settings(
        home=home,
        database_url=database_url,
        s3_endpoint=seaweed.s3_endpoint,
        s3_access_key=seaweed.access_key,
        s3_secret_key=seaweed.secret_key,
        bucket="t-" + uuid.uuid4().hex[:16],
        tsas=(TSAConfig(url=tsa_server.url, ca=pki.tsa_ca.cert, cert=pki.tsa.cert, timeout=5.0),),
        seal_cert=pki.seal.cert,
        seal_key=pki.seal.key,
        seal_ca=pki.seal_ca.cert,
        kek=home / "kek.key",
        kek_dir=home / "keys" / "kek",
        tsa_cert=pki.tsa.cert,
        tsa_key=pki.tsa.key,
        batch_max_items=1000,
        part_size=5 * 1024 * 1024,
        multipart_threshold=8 * 1024 * 1024,
    )


def open_ctx(settings: Settings) -> VaultContext:
    ctx = VaultContext.open(settings, migrate_schema=True)
    ctx.store.ensure_bucket()
    return ctx


@pytest.fixture
def ctx(settings: Settings) -> Iterator[VaultContext]:
    c = open_ctx(settings)
    yield c
    c.close()


def with_settings(settings: Settings, **changes: object) -> Settings:
    return replace(settings, **changes)  # type: ignore[arg-type]


def write_config(settings: Settings) -> Path:
    """Write ``settings`` as the home's config.toml, so a CLI subprocess uses the same vault."""
    t = settings.tsas[0]
    lines = [
        f'database_url = "{settings.database_url}"',
        f's3_endpoint = "{settings.s3_endpoint}"',
        f's3_access_key = "{settings.s3_access_key}"',
        f's3_secret_key = "{settings.s3_secret_key}"',
        f'bucket = "{settings.bucket}"',
        f'seal_cert = "{settings.seal_cert}"',
        f'seal_key = "{settings.seal_key}"',
        f'seal_ca = "{settings.seal_ca}"',
        f'kek = "{settings.kek}"',
        f'kek_store = "{settings.kek_store}"',
        f'kek_dir = "{settings.kek_dir}"',
        f'pkcs11_library = "{settings.pkcs11_library}"',
        f'pkcs11_token = "{settings.pkcs11_token}"',
        f'pkcs11_key_label = "{settings.pkcs11_key_label}"',
        *([f'pkcs11_pin_file = "{settings.pkcs11_pin_file}"'] if settings.pkcs11_pin_file else []),
        f'tsa_cert = "{settings.tsa_cert}"',
        f'tsa_key = "{settings.tsa_key}"',
        f"batch_max_items = {settings.batch_max_items}",
        f"batch_max_seconds = {settings.batch_max_seconds}",
        f"part_size = {settings.part_size}",
        f"multipart_threshold = {settings.multipart_threshold}",
        "",
        "[[tsa]]",
        f'url = "{t.url}"',
        f'ca = "{t.ca}"',
        f'cert = "{t.cert}"',
    ]
    path = settings.home / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(settings: Settings, *args: str, env: dict[str, str] | None = None, input: bytes | None = None):  # type: ignore[no-untyped-def]
    """Run `vault ARGS` in a subprocess against the test vault's home."""
    import subprocess
    import sys

    write_config(settings)
    full_env = {**os.environ, "VAULT_HOME": str(settings.home), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", *args], capture_output=True, env=full_env, input=input, timeout=120
    )


from api_support import api_server  # noqa: E402, F401  (the HTTP API fixture, shared)
from kek_support import softhsm  # noqa: E402, F401  (the SoftHSM2 token fixture, shared)
