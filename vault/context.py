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

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vault.clock import Clock, clock_from_env
from vault.config import Settings
from vault.envelope.keyring import KeyRing
from vault.index.db import check_schema, make_engine, migrate, session_factory
from vault.keys.datakeys import SHREDDED, DataKeys
from vault.keys.epochs import ensure_current
from vault.keys.kek.store import KekStore, open_store
from vault.keys.pki import load_cert, load_certs
from vault.keys.pseudonyms import Pseudonyms
from vault.retention.policy import Policy, load_policy
from vault.seal.cms import Sealer
from vault.seal.identity import SealTrust, fingerprint
from vault.storage.s3 import ObjectStore, make_client
from vault.tenants.registry import check_name
from vault.timestamp.client import TrustedTSA

NO_SUBJECT = "-"
__all__ = ["NO_SUBJECT", "SHREDDED", "VaultContext", "check_name"]


def own_tsa_fingerprints(settings: Settings) -> frozenset[str]:
    """The certificates of the TSAs the operator runs: the built-in TSA's (``tsa_cert``, its
    key in the vault's keys folder) and the ``cert`` of every TSA flagged self-operated."""
    paths = {settings.tsa_cert, *(t.cert for t in settings.tsas if t.cert and settings.tsa_self_operated(t))}
    return frozenset(fingerprint(load_cert(p)) for p in paths if p is not None and p.is_file())


@dataclass
class VaultContext:
    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    kek: KekStore
    keyring: KeyRing
    pseudonyms: Pseudonyms
    sealer: Sealer
    #: seal anchors and the pinned fingerprints of the vault's sealing certificates (ADR 0009);
    #: iterating it gives the anchors
    seal_roots: SealTrust
    tsas: list[TrustedTSA]
    policy: Policy
    data_keys: DataKeys
    #: SHA-256 fingerprints of the TSA certificates the operator runs (the built-in TSA's):
    #: tokens they sign are reported as self-operated, not independent
    own_tsa_fingerprints: frozenset[str] = frozenset()

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
        kek = open_store(settings)
        ensure_current(engine, sessions, kek, settings.run_dir)
        keyring = KeyRing(kek)
        pseudonyms = Pseudonyms(sessions, keyring, lambda: clock.now())
        sealer = Sealer.from_files(settings.seal_cert, settings.seal_key)
        return cls(
            settings=settings,
            clock=clock,
            engine=engine,
            sessions=sessions,
            store=ObjectStore(client, settings.bucket),
            kek=kek,
            keyring=keyring,
            pseudonyms=pseudonyms,
            data_keys=DataKeys(sessions, keyring, pseudonyms, lambda: clock.now()),
            sealer=sealer,
            seal_roots=SealTrust.of(
                load_certs(settings.seal_ca), [*settings.seal_fingerprints, fingerprint(sealer.cert)]
            ),
            own_tsa_fingerprints=own_tsa_fingerprints(settings),
            tsas=tsas,
            policy=load_policy(settings.retention_policy),
        )

    @property
    def seal_trust(self) -> SealTrust:
        return self.seal_roots

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
