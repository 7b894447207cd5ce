"""The components of one vault, wired from settings: index, object store, keys, seal, TSAs.

Built explicitly (``VaultContext.open(settings)``) rather than at import time, so that the
CLI, the API workers, the batcher, tests and benchmarks each get their own. It wires; it does
not act: who acts is a parameter of every use case (``vault.service``), tenants live in
``vault.tenants`` and the data-key lifecycle in ``vault.keys.datakeys``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vault.clock import Clock, clock_from_env
from vault.config import Settings
from vault.envelope.keyring import KeyRing, load_or_create_kek
from vault.index.db import check_schema, make_engine, migrate, session_factory
from vault.keys.datakeys import SHREDDED, DataKeys
from vault.keys.pki import load_cert, load_certs
from vault.retention.policy import Policy, load_policy
from vault.seal.cms import Sealer
from vault.storage.s3 import ObjectStore, make_client
from vault.tenants.registry import check_name
from vault.timestamp.client import TrustedTSA

NO_SUBJECT = "-"
__all__ = ["NO_SUBJECT", "SHREDDED", "VaultContext", "check_name"]


@dataclass
class VaultContext:
    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    keyring: KeyRing
    sealer: Sealer
    seal_roots: list[x509.Certificate]
    tsas: list[TrustedTSA]
    policy: Policy
    data_keys: DataKeys

    @classmethod
    def open(cls, settings: Settings, *, clock: Clock | None = None, migrate_schema: bool = False) -> VaultContext:
        settings = settings.with_runtime()
        engine = make_engine(settings.database_url)
        if migrate_schema:
            migrate(engine)
        else:
            check_schema(engine)
        client = make_client(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, settings.s3_region)
        tsas = [
            TrustedTSA(
                url=t.url,
                roots=tuple(load_certs(t.ca)),
                tsa_cert=load_cert(t.cert) if t.cert else None,
                timeout=t.timeout,
            )
            for t in settings.tsas
        ]
        clock = clock or clock_from_env()
        sessions = session_factory(engine)
        keyring = KeyRing(load_or_create_kek(settings.kek))
        return cls(
            settings=settings,
            clock=clock,
            engine=engine,
            sessions=sessions,
            store=ObjectStore(client, settings.bucket),
            keyring=keyring,
            data_keys=DataKeys(sessions, keyring, lambda: clock.now()),
            sealer=Sealer.from_files(settings.seal_cert, settings.seal_key),
            seal_roots=load_certs(settings.seal_ca),
            tsas=tsas,
            policy=load_policy(settings.retention_policy),
        )

    def close(self) -> None:
        self.engine.dispose()

    def now(self) -> dt.datetime:
        return self.clock.now()

    def info(self) -> dict[str, Any]:
        return {
            "database": self.engine.url.render_as_string(hide_password=True),
            "s3_endpoint": self.settings.s3_endpoint,
            "bucket": self.settings.bucket,
            "tsas": [t.url for t in self.tsas],
        }
