"""Tables of the index.

The index says *where* evidence is and *how to prove it*; it is not itself trusted by
verification, which re-reads pinned object versions and checks hashes, seals and tokens.
Item states: ``writing`` (intent recorded, bytes maybe in S3, NOT acknowledged and never
evidence), ``stored`` (durable and acknowledged, waiting for a batch), ``sealed``, and
``orphaned`` (an intent whose deposit crashed; kept for the record, never evidence).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the index")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    pass


#: 64-bit keys on PostgreSQL (records arrive by the billion); SQLite's INTEGER is already 64-bit
#: and only auto-increments as ``INTEGER PRIMARY KEY``
BigKey = BigInteger().with_variant(Integer, "sqlite")


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    proof_years: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    service_ended_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    #: deposits must carry a device signature (docs/decisions/0013); off by default
    require_signatures: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)


class SubjectKey(Base):
    """One data key per (tenant, subject, purpose): erasing what one purpose allows never
    destroys what another purpose must keep. A destroyed key keeps its row (``wrapped_key``
    NULL); a later deposit for the same scope starts a new ``generation``. Keys made before
    scopes existed have scope ``*``."""

    __tablename__ = "subject_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "subject", "scope", "generation", name="uq_subject_keys_scope"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    subject: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(32), server_default="*")
    generation: Mapped[int] = mapped_column(Integer, server_default="1")
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    kek_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: the KEK epoch ``wrapped_key`` is wrapped under (0: the single KEK of before epochs)
    epoch: Mapped[int] = mapped_column(Integer, server_default="0")


class KekEpoch(Base):
    """One key-encryption key epoch. The key itself lives in the KEK store (a PKCS#11 token in
    production), never here: this row only says which epoch wraps new keys (``current``), which
    are being re-wrapped away from (``retired``) and which were destroyed in the store."""

    __tablename__ = "kek_epochs"

    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16))  # current, retired, destroyed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PseudonymKey(Base):
    """The key of one data subject's journal pseudonym, wrapped like a data key. Erasing the
    subject destroys it: the journal then still proves what happened, no longer to whom."""

    __tablename__ = "pseudonym_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "subject", name="uq_pseudonym_keys_subject"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    #: the subject in clear while the key lives; ``#`` + its pseudonym once destroyed
    subject: Mapped[str] = mapped_column(String(200))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    epoch: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class KeyState(Base):
    """One row: a counter bumped by every key destruction and KEK rotation, so that other
    processes drop the data keys they hold unwrapped (see vault.keys.datakeys)."""

    __tablename__ = "key_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    counter: Mapped[int] = mapped_column(BigInteger)


class Segment(Base):
    __tablename__ = "segments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    retention_class: Mapped[str] = mapped_column(String(32))
    object_key: Mapped[str] = mapped_column(String(512))
    version_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    state: Mapped[str] = mapped_column(String(16))  # writing, stored, orphaned (as items)
    receipt: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # signed body + seal
    size: Mapped[int] = mapped_column(BigInteger)
    records: Mapped[int] = mapped_column(Integer)
    retain_until: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_state_seq", "state", "seq"),
        Index("ix_items_tenant_session", "tenant_id", "session"),
        Index("ix_items_leaf", "leaf"),
        Index("ix_items_batch_seq", "batch_seq"),
    )

    seq: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    session: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))
    retention_class: Mapped[str] = mapped_column(String(32))
    subject_key_id: Mapped[int] = mapped_column(BigKey, ForeignKey("subject_keys.id"))
    state: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    object_key: Mapped[str] = mapped_column(String(512))
    version_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    offset: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    length: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    segment_id: Mapped[str | None] = mapped_column(ForeignKey("segments.id"), nullable=True)
    retain_until: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    lock_mode: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    leaf: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    meta_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # a file item keeps its whole receipt; a packed record only its path (the body and
    # seal are shared by its segment: see Segment.receipt)
    receipt: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    batch_seq: Mapped[int | None] = mapped_column(BigKey, ForeignKey("batches.seq"), nullable=True)
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    # retention lifecycle, orthogonal to ``state`` (the evidence pipeline): NULL (active),
    # ``archived`` (restricted reads until ``archive_until``), ``erased`` (key destroyed,
    # bytes may still sit under their lock), ``destroyed`` (every object version deleted)
    disposal: Mapped[str | None] = mapped_column(String(16), nullable=True)
    disposed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disposal_rule: Mapped[str | None] = mapped_column(String(200), nullable=True)
    archive_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    storage_tier: Mapped[str | None] = mapped_column(String(32), nullable=True)
    disposal_record: Mapped[str | None] = mapped_column(String(40), nullable=True)  # journal entry id
    corrects: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    #: who deposited it (the actor; over the API, ``key:<id>``): a technician reads back only
    #: its own deposits. An access-control fact, not evidence (the journal's sealed entry is).
    deposited_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Hold(Base):
    """A legal hold: suspends every deletion of what it covers until released."""

    __tablename__ = "holds"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    session: Mapped[str | None] = mapped_column(String(200), nullable=True)
    item_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    case_ref: Mapped[str] = mapped_column(String(200))
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    placed_by: Mapped[str] = mapped_column(String(200))
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class SubjectStatus(Base):
    """What a data subject asked for that changes how the vault treats their data."""

    __tablename__ = "subject_status"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    restricted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    objections: Mapped[str] = mapped_column(Text, default="{}")  # JSON {purpose: iso date}


class JournalEntry(Base):
    """One operation of the vault (who, what, when). ``body`` is the canonical JSON that the
    leaf hashes; the other columns are copies for querying and are checked against it."""

    __tablename__ = "journal"
    __table_args__ = (Index("ix_journal_batch", "batch_seq"), Index("ix_journal_leaf", "leaf"))

    seq: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    tenant_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject_ref: Mapped[str | None] = mapped_column(String(80), nullable=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    batch_seq: Mapped[int | None] = mapped_column(BigKey, ForeignKey("batches.seq"), nullable=True)
    path: Mapped[str | None] = mapped_column(Text, nullable=True)


class Batch(Base):
    __tablename__ = "batches"

    seq: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(String(64), unique=True)
    previous_root: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    seal: Mapped[bytes] = mapped_column(LargeBinary)
    tsr: Mapped[bytes] = mapped_column(LargeBinary)
    tsa_url: Mapped[str] = mapped_column(String(512))
    tsa_chain: Mapped[str] = mapped_column(Text)  # PEM of TSA cert then its CA, as trusted
    gen_time: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    leaf_count: Mapped[int] = mapped_column(Integer)
    journal_entries: Mapped[int] = mapped_column(Integer, server_default="0")
    object_prefix: Mapped[str] = mapped_column(String(512))
    versions: Mapped[str] = mapped_column(Text)  # JSON {file name: version id}
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ApiKey(Base):
    """An API key: shown once, kept only as its SHA-256 (a 256-bit random secret needs no slow
    hash), scoped to one tenant and one role (``tenant_id`` NULL: an operator's, platform-wide)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"), nullable=True, index=True)
    role: Mapped[str] = mapped_column(String(32))
    key_sha256: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class IdempotencyKey(Base):
    """A deposit's idempotency key (docs/decisions/0013): the first deposit with a key claims
    the row (``pending``, naming its intent), its acknowledgement marks it ``done`` with the
    item ids in the same transaction; a retry with the key gets those items back. The key is
    also sealed in each item's evidence.json, so a rebuilt index can restore the mapping."""

    __tablename__ = "idempotency_keys"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # pending, done
    #: ``file`` or ``records``: what the key was used for
    call: Mapped[str] = mapped_column(String(16))
    #: comma-separated item ids: a file's intent while pending; the items once acknowledged
    item_ids: Mapped[str] = mapped_column(Text, server_default="")
    #: records only: how many records the call carried
    expected: Mapped[int] = mapped_column(Integer, server_default="1")
    #: records only: HMAC-SHA256 under the subject's data key of the call (session, kind,
    #: purpose, subject, records): compared on a retry, unconfirmable once the key is destroyed
    request_mac: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject_key_id: Mapped[int | None] = mapped_column(BigKey, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Device(Base):
    """A technician's device key (Ed25519 or ECDSA P-256), bound to the API key that registered
    it: only deposits made with that API key may carry its signatures (docs/decisions/0013)."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    api_key_id: Mapped[str] = mapped_column(String(40), index=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # SubjectPublicKeyInfo, DER
    fingerprint: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Checkpoint(Base):
    """One size of the checkpoint log (vault.checkpoint): the RFC 6962 tree whose leaf i is
    batch i + 1's ``batch.json``. ``hashes`` holds the stored hashes that appending batch
    ``size`` completed (32 bytes per level, 0 .. trailing zeros of ``size``), from which every
    root and proof is computed without the leaves. Written in the batch's own transaction;
    ``note`` (the signed checkpoint) and its WORM object ``checkpoints/<size:012d>`` once
    published. The index is not evidence: a kept checkpoint is, and a proof computed from
    rewritten rows does not check against it."""

    __tablename__ = "checkpoints"

    size: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=False)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)
    root: Mapped[str] = mapped_column(String(64))  # hex RFC 6962 root of the log of this size
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[str | None] = mapped_column(String(512), nullable=True)  # of the stored note
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ArchiveStamp(Base):
    """An archive-timestamp renewal (RFC 4998 5, vault.renewal): one RFC 3161 token over a tree
    of leaves. ``kind`` ``timestamp``: each leaf renews one chain origin's tokens (5.2);
    ``hash``: each leaf re-hashes one item's evidence.json and its earlier sequence with a
    stronger ``algorithm`` (5.3), and ``origins`` lists the chains it replaces. The truth is
    its WORM objects under ``object_prefix`` (renewal.json, timestamp.tsr)."""

    __tablename__ = "archive_stamps"

    seq: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    algorithm: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    gen_time: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    tsr: Mapped[bytes] = mapped_column(LargeBinary)
    tsa_chain: Mapped[str] = mapped_column(Text)  # PEM: the TSA certificate, then its roots
    tsa_not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    origins: Mapped[str] = mapped_column(Text)  # JSON list of "batch:<seq>" / "stamp:<seq>"
    object_prefix: Mapped[str] = mapped_column(String(200))
    versions: Mapped[str] = mapped_column(Text)  # JSON {object name: version id}


class StampLeaf(Base):
    """Leaf ``position`` of an archive stamp's tree: what it ``covers`` (``batch:<seq>`` or
    ``stamp:<seq>``, a chain origin renewed; ``item:<id>``, an item re-hashed)."""

    __tablename__ = "stamp_leaves"
    __table_args__ = (Index("ix_stamp_leaves_covers", "covers"),)

    stamp_seq: Mapped[int] = mapped_column(BigKey, ForeignKey("archive_stamps.seq"), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    covers: Mapped[str] = mapped_column(String(64))
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
