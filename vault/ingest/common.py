"""What every deposit path shares: validation, item rows, manifests and receipts."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from vault.context import NO_SUBJECT, VaultContext, check_name
from vault.errors import ConfigError, Forbidden, InputError
from vault.evidence.canonical import canonical_known
from vault.evidence.kinds import (
    Kind,
    Purpose,
    RetentionClass,
    parse_kind,
    parse_purpose,
    retention_class,
)
from vault.evidence.manifest import StoragePin, item_manifest, leaf_of
from vault.evidence.receipt import Receipt
from vault.index.models import Hold, SubjectStatus, Tenant
from vault.storage.s3 import Lock
from vault.tenants.registry import ensure_tenant

if TYPE_CHECKING:
    from vault.devices.evidence import Attested


@dataclass(frozen=True)
class DepositRequest:
    """One item as the caller describes it (validated by :func:`validate`)."""

    tenant: str
    session: str
    kind: Kind
    purpose: Purpose
    subject: str
    meta: dict[str, Any]
    corrects: str | None = None  # a correction (GDPR art. 16) names the item it corrects
    #: exactly once (docs/decisions/0013): sealed in the evidence, claimed in the index
    idempotency_key: str | None = None
    #: the device-signed statement, verified before any byte is stored
    attested: Attested | None = None
    derived: dict[str, Any] | None = None  # fields the vault added to a record, sealed in evidence.json

    @property
    def retention_class(self) -> RetentionClass:
        return retention_class(self.purpose)


FIELD_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Personal field names become keys of sealed manifests: keep them plain and unambiguous."""
    for name in fields:
        if not isinstance(name, str) or not FIELD_RE.match(name):
            raise InputError(
                "field names must be 1-64 characters: letters, digits, '_', '-', '.', ':'", detail=repr(name)
            )
        if name == "subject":
            raise InputError("the field name 'subject' is reserved; give the data subject with --subject")
    return dict(fields)


def validate(
    *,
    tenant: str,
    session: str,
    kind: str,
    purpose: str | None = None,
    subject: str | None = None,
    meta: dict[str, Any] | None = None,
) -> DepositRequest:
    k = parse_kind(kind)
    return DepositRequest(
        tenant=check_name("tenant", tenant),
        session=check_name("session", session),
        kind=k,
        purpose=parse_purpose(purpose, k),
        subject=check_name("subject", subject) if subject else NO_SUBJECT,
        meta=check_fields(meta or {}),
    )


def deposit_tenant(ctx: VaultContext, tenant_id: str) -> Tenant:
    """The tenant a deposit goes to, created with the default contract on first use. Only the
    host's CLI may rely on that (``vault.service.deposit`` refuses unknown tenants elsewhere)."""
    tenant, _created = ensure_tenant(
        ctx.sessions, tenant_id, proof_years=ctx.settings.default_proof_years, now=ctx.now()
    )
    return tenant


def whole_seconds(at: dt.datetime) -> dt.datetime:
    """Object stores keep whole seconds: round up, never down."""
    return at.replace(microsecond=0) + dt.timedelta(seconds=1) if at.microsecond else at


@dataclass(frozen=True)
class Retention:
    until: dt.datetime  # what the vault commits to, in the vault's time (the index keeps it)
    lock: Lock  # what the object store enforces (the same date, except in drills)


def retention_for(
    ctx: VaultContext, tenant: Tenant, purpose: Purpose, received_at: dt.datetime, *, legal_hold: bool = False
) -> Retention:
    rule = ctx.policy.rules[purpose]
    until = whole_seconds(
        rule.committed_until(received_at, proof_years=tenant.proof_years, service_ended_on=tenant.service_ended_on)
    )
    return Retention(until, store_lock(ctx, until, legal_hold=legal_hold))


def store_lock(ctx: VaultContext, until: dt.datetime, *, legal_hold: bool = False) -> Lock:
    """The Object Lock for a retain-until date; in a drill (``drill_lock_seconds``), a lock of
    that many real seconds instead, so that real locks expire while the vault clock is moved."""
    real_now = dt.datetime.now(dt.UTC)
    if ctx.settings.drill_lock_seconds > 0:
        real = real_now + dt.timedelta(seconds=ctx.settings.drill_lock_seconds)
        return Lock(ctx.settings.lock_mode, whole_seconds(real), legal_hold)
    if until <= real_now:  # object stores refuse a retain-until date in the past
        raise ConfigError(
            "the retain-until date is already past in real time",
            detail=f"{until.isoformat()}: is VAULT_CLOCK set in the past? drills need drill_lock_seconds",
        )
    return Lock(ctx.settings.lock_mode, until, legal_hold)


def extension_lock(ctx: VaultContext, until: dt.datetime) -> Lock | None:
    """The lock to extend existing versions to, or None when ``until`` is already past in real
    time (their locks, which ended earlier still, need nothing: the items are simply due)."""
    if ctx.settings.drill_lock_seconds <= 0 and until <= dt.datetime.now(dt.UTC):
        return None
    return store_lock(ctx, until)


def under_hold(ctx: VaultContext, tenant: str, sessions: Iterable[str]) -> bool:
    """Does an active legal hold cover new data of this tenant in these sessions?"""
    with ctx.sessions() as s:
        found = s.scalars(
            select(Hold.id)
            .where(
                Hold.tenant_id == tenant,
                Hold.released_at.is_(None),
                Hold.item_id.is_(None),
                or_(Hold.session.is_(None), Hold.session.in_(set(sessions))),
            )
            .limit(1)
        ).first()
    return found is not None


def objections(ctx: VaultContext, reqs: Iterable[DepositRequest]) -> dict[tuple[str, str, str], Forbidden]:
    """(tenant, subject, purpose) -> the refusal, for new data of a purpose its subject
    objected to (GDPR art. 21). One query for any number of requests."""
    reqs = list(reqs)
    wanted = {(r.tenant, r.subject) for r in reqs if r.subject != NO_SUBJECT}
    if not wanted:
        return {}
    purposes = {(r.tenant, r.subject, r.purpose.value) for r in reqs}
    with ctx.sessions() as s:
        rows = s.scalars(
            select(SubjectStatus).where(
                SubjectStatus.tenant_id.in_({t for t, _ in wanted}),
                SubjectStatus.subject.in_({x for _, x in wanted}),
            )
        ).all()
    found: dict[tuple[str, str, str], Forbidden] = {}
    for row in rows:
        objected: dict[str, str] = json.loads(row.objections or "{}")
        for purpose, since in objected.items():
            if (row.tenant_id, row.subject, purpose) in purposes:
                found[(row.tenant_id, row.subject, purpose)] = Forbidden(
                    f"the data subject objected to the purpose {purpose!r}",
                    detail=f"tenant {row.tenant_id!r}, since {since} (GDPR art. 21): no new data for this purpose",
                )
    return found


def check_objections(ctx: VaultContext, reqs: Iterable[DepositRequest]) -> None:
    """Raise the first refusal :func:`objections` finds."""
    for refusal in objections(ctx, reqs).values():
        raise refusal


def finish_manifest(
    *,
    item_id: str,
    req: DepositRequest,
    received_at: dt.datetime,
    size: int,
    sha256: str,
    sha3_256: str,
    commitments: dict[str, str],
    pin: StoragePin,
    salt_sealed: bytes | None = None,
    dek: bytes | None = None,
) -> tuple[bytes, bytes]:
    """(evidence.json bytes, leaf hash); with ``salt_sealed``, a ``vault-evidence/2`` manifest
    whose ``sha256``/``sha3_256`` are the salted digests. A request's idempotency key and
    client statement are sealed too: the statement encrypted under ``dek`` unless the item is
    kept for proof (docs/decisions/0013)."""
    extra: dict[str, Any] = {}
    if req.idempotency_key is not None:
        extra["idempotency_key"] = req.idempotency_key
    if req.attested is not None:
        from vault.devices.evidence import FIELD, evidence_field

        if dek is None:
            raise ValueError("a client statement is sealed under the item's data key")
        sealed = req.retention_class is not RetentionClass.PROOF
        extra[FIELD] = evidence_field(req.attested, item_id=item_id, dek=dek, sealed=sealed)
    manifest = item_manifest(
        item_id=item_id,
        tenant=req.tenant,
        session=req.session,
        kind=req.kind.value,
        purpose=req.purpose.value,
        retention_class=req.retention_class.value,
        received_at=received_at,
        size=size,
        sha256=sha256,
        sha3_256=sha3_256,
        commitments=commitments,
        storage=pin,
        salt_sealed=salt_sealed,
        derived=req.derived,
        extra=extra,
    )
    evidence = canonical_known(manifest)  # names validated at intake; values built here
    return evidence, leaf_of(evidence)


MANIFESTS_TYPE = "vault-manifests/1"


def manifest_key(object_key: str) -> str:
    """The manifests object written beside an item's (or segment's) object, with its lock."""
    return object_key + ".manifest.json"


def store_manifests(
    ctx: VaultContext, object_key: str, lock: Lock, receipts: list[Receipt], meta_sealed: dict[str, bytes] | None = None
) -> str:
    """Write the items' evidence.json, receipt and sealed meta next to their bytes, WORM.

    The index is the fast path, not the only copy: if it is lost, every manifest, receipt
    and inclusion path can be read back from object storage (the wrapped data keys cannot
    be WORM, crypto-shredding must stay possible: back the index up).
    """
    body = {
        "type": MANIFESTS_TYPE,
        "object": object_key,
        "receipt": {
            "body": base64.b64encode(receipts[0].body).decode(),
            "seal": base64.b64encode(receipts[0].seal).decode(),
        },
        "items": [
            {
                "id": r.item_id,
                "evidence": r.evidence.decode(),  # the exact evidence.json bytes, as a JSON string
                "path": [[h.hex() for h in level] for level in r.path],
                **(
                    {"meta_sealed": base64.b64encode(meta_sealed[r.item_id]).decode()}
                    if meta_sealed and r.item_id in meta_sealed
                    else {}
                ),
            }
            for r in receipts
        ],
    }
    return ctx.store.put(
        manifest_key(object_key), canonical_known(body), lock, content_type="application/json"
    ).version_id


def fault_point(name: str) -> None:
    """Crash on purpose at a named point (``VAULT_FAULT_INJECT=name``); tests use it to prove
    that a crash between the object write and the index commit loses nothing acknowledged."""
    if os.environ.get("VAULT_FAULT_INJECT") == name:
        os._exit(70)
