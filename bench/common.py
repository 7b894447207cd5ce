"""An embedded vault for benchmarks: one SeaweedFS, one built-in TSA, a vault home over them."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3

from vault.config import Settings, TSAConfig
from vault.keys.pki import generate_dev_pki, load_cert, load_private_key
from vault.storage.embedded import EmbeddedSeaweed
from vault.timestamp.responder import TimeStampResponder
from vault.timestamp.server import TSAServer


@dataclass
class BenchVault:
    work: Path
    settings: Settings
    seaweed: EmbeddedSeaweed

    def raw_client(self) -> object:
        return boto3.client(
            "s3",
            endpoint_url=self.seaweed.s3_endpoint,
            aws_access_key_id=self.seaweed.access_key,
            aws_secret_access_key=self.seaweed.secret_key,
            region_name="us-east-1",
        )


@contextlib.contextmanager
def bench_vault(**overrides: object) -> Iterator[BenchVault]:
    work = Path(tempfile.mkdtemp(prefix="vault-bench-"))
    pki = generate_dev_pki(work / "keys")
    secret = secrets.token_hex(20)
    sw = EmbeddedSeaweed(work / "s3", access_key="bench", secret_key=secret)
    sw.start()
    tsa = TSAServer(TimeStampResponder(load_cert(pki.tsa.cert), load_private_key(pki.tsa.key))).start()  # type: ignore[arg-type]
    home = work / "home"
    (home / "run").mkdir(parents=True)
    settings = Settings(
        home=home,
        database_url=os.environ.get("VAULT_BENCH_DATABASE_URL", f"sqlite:///{home / 'index.sqlite3'}"),
        s3_endpoint=sw.s3_endpoint,
        s3_access_key="bench",
        s3_secret_key=secret,
        bucket="bench-vault",
        tsas=(TSAConfig(url=tsa.url, ca=pki.tsa_ca.cert, cert=pki.tsa.cert),),
        seal_cert=pki.seal.cert,
        seal_key=pki.seal.key,
        seal_ca=pki.seal_ca.cert,
        kek=home / "kek.key",
        kek_dir=home / "keys" / "kek",
        tsa_cert=pki.tsa.cert,
        tsa_key=pki.tsa.key,
        **overrides,  # type: ignore[arg-type]
    )
    try:
        yield BenchVault(work, settings, sw)
    finally:
        tsa.stop()
        sw.stop()
