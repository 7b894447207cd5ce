"""The components of one vault, wired from settings: index, object store, keys, seal, TSAs.

Built explicitly (``VaultContext.open(settings)``) rather than at import time, so that the
CLI, the batcher, tests and benchmarks each get their own.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vault.access.principal import SYSTEM, Principal
from vault.clock import Clock, clock_from_env
from vault.config import Settings
from vault.envelope.keyring import KeyRing, load_or_create_kek
from vault.errors import InputError, KeyError_
from vault.index.db import check_schema, make_engine, migrate, session_factory
from vault.index.models import SubjectKey, Tenant
from vault.keys.pki import load_cert, load_certs
from vault.retention.policy import Policy, load_policy
from vault.retention.rules import check_proof_years
from vault.seal.cms import Sealer
from vault.storage.s3 import ObjectStore, make_client
from vault.timestamp.client import TrustedTSA

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")
NO_SUBJECT = "-"
#: prefix of the subject name on a destroyed key row: ``#`` + the journal pseudonym (it cannot
#: start a subject id); see vault.privacy.shredding
SHREDDED = "#"


def check_name(what: str, value: str) -> str:
    if not NAME_RE.match(value):
        raise InputError(
            f"invalid {what} {value!r}",
            detail="1-64 characters: letters, digits, '.', '_', ':', '@', '-'; starting with a letter or digit",
        )
    return value


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
    #: who the operations of this context are journalled as (the CLI sets it per command)
    principal: Principal = SYSTEM
    _keys: dict[tuple[str, str, str], tuple[int, bytes]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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
        return cls(
            settings=settings,
            clock=clock or clock_from_env(),
            engine=engine,
            sessions=session_factory(engine),
            store=ObjectStore(client, settings.bucket),
            keyring=KeyRing(load_or_create_kek(settings.kek)),
            sealer=Sealer.from_files(settings.seal_cert, settings.seal_key),
            seal_roots=load_certs(settings.seal_ca),
            tsas=tsas,
            policy=load_policy(settings.retention_policy),
        )

    def close(self) -> None:
        self.engine.dispose()

    def now(self) -> dt.datetime:
        return self.clock.now()

    # -- tenants --------------------------------------------------------------------------
    def ensure_tenant(self, tenant_id: str, *, proof_years: int | None = None) -> Tenant:
        """The tenant, created with the default contract settings on first use."""
        check_name("tenant", tenant_id)
        with self.sessions() as s:
            t = s.get(Tenant, tenant_id)
            if t is not None:
                return t
            t = Tenant(
                id=tenant_id,
                proof_years=check_proof_years(proof_years or self.settings.default_proof_years),
                created_at=self.now(),
            )
            s.add(t)
            try:
                s.commit()
            except IntegrityError:  # created concurrently
                s.rollback()
                existing = s.get(Tenant, tenant_id)
                assert existing is not None
                return existing
            return t

    # -- data keys ------------------------------------------------------------------------
    def data_key(self, tenant_id: str, subject: str, scope: str) -> tuple[int, bytes]:
        """(key row id, data key) of a subject for one purpose scope, created on first use.

        Cached unwrapped; :meth:`check_key_live` re-checks in the committing transaction, so a
        key destroyed by another process is never used for new data.
        """
        cache_key = (tenant_id, subject, scope)
        with self._lock:
            hit = self._keys.get(cache_key)
        if hit:
            return hit
        with self.sessions() as s:
            # destroyed rows carry the shredded name ("#" + pseudonym): they still count for generations
            names = [subject, SHREDDED + self.keyring.pseudonym(tenant_id, subject)]
            rows = s.scalars(
                select(SubjectKey)
                .where(SubjectKey.tenant_id == tenant_id, SubjectKey.subject.in_(names), SubjectKey.scope == scope)
                .order_by(SubjectKey.generation.desc())
            ).all()
            live = next((r for r in rows if r.wrapped_key is not None), None)
            if live is None:  # first use, or every earlier generation was destroyed
                dek, wrapped = self.keyring.new_wrapped_key(tenant_id, subject)
                row = SubjectKey(
                    tenant_id=tenant_id,
                    subject=subject,
                    scope=scope,
                    generation=(rows[0].generation + 1) if rows else 1,
                    wrapped_key=wrapped,
                    kek_id=self.keyring.kek_id,
                    created_at=self.now(),
                )
                s.add(row)
                try:
                    s.commit()
                except IntegrityError:  # created concurrently
                    s.rollback()
                    return self.data_key(tenant_id, subject, scope)
            else:
                row = live
                assert row.wrapped_key is not None
                dek = self.keyring.unwrap(row.wrapped_key, tenant_id, subject)
            result = (row.id, dek)
        with self._lock:
            self._keys[cache_key] = result
        return result

    def forget_keys(self, key_ids: set[int]) -> None:
        """Drop destroyed keys from this process's cache."""
        with self._lock:
            for k, (kid, _) in list(self._keys.items()):
                if kid in key_ids:
                    del self._keys[k]

    def check_key_live(self, s: Session, key_ids: set[int]) -> None:
        """Inside a committing transaction: refuse to acknowledge data under a destroyed key
        (an erasure in another process won the race); the row lock orders the two on PostgreSQL."""
        rows = s.scalars(select(SubjectKey).where(SubjectKey.id.in_(key_ids)).with_for_update()).all()
        dead = {r.id for r in rows if r.wrapped_key is None}
        if dead:
            self.forget_keys(dead)
            raise KeyError_(
                "the subject's data key was destroyed while the deposit was written",
                detail="an erasure or retention run won the race; retry the deposit",
            )

    def key_by_id(self, key_id: int) -> tuple[SubjectKey, bytes | None]:
        """The key row and its unwrapped key, or ``None`` when it was destroyed."""
        with self.sessions() as s:
            row = s.get(SubjectKey, key_id)
            if row is None:
                raise KeyError_("unknown data key", detail=str(key_id))
            if row.wrapped_key is None:
                return row, None
            return row, self.keyring.unwrap(row.wrapped_key, row.tenant_id, row.subject)

    def info(self) -> dict[str, Any]:
        return {
            "database": self.engine.url.render_as_string(hide_password=True),
            "s3_endpoint": self.settings.s3_endpoint,
            "bucket": self.settings.bucket,
            "tsas": [t.url for t in self.tsas],
        }
