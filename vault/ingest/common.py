"""What every deposit path shares: validation, item rows, manifests and receipts."""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

from vault.context import NO_SUBJECT, VaultContext, check_name
from vault.evidence.kinds import (
    Kind,
    Purpose,
    RetentionClass,
    parse_kind,
    parse_purpose,
    retention_class,
)
from vault.evidence.manifest import StoragePin, canonical, item_manifest, leaf_of, receipt_body
from vault.index.models import Tenant
from vault.retention.rules import initial_retain_until
from vault.storage.s3 import Lock


@dataclass(frozen=True)
class DepositRequest:
    """One item as the caller describes it (validated by :func:`validate`)."""

    tenant: str
    session: str
    kind: Kind
    purpose: Purpose
    subject: str
    meta: dict[str, Any]

    @property
    def retention_class(self) -> RetentionClass:
        return retention_class(self.purpose)


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
        meta=dict(meta or {}),
    )


@dataclass(frozen=True)
class Receipt:
    """The signed acknowledgement handed to the depositor."""

    item_id: str
    body: bytes
    seal: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "body": base64.b64encode(self.body).decode(),
            "seal": base64.b64encode(self.seal).decode(),
        }

    def encoded(self) -> bytes:
        return canonical(self.as_json())


def retention_for(ctx: VaultContext, tenant: Tenant, cls: RetentionClass, received_at: dt.datetime) -> Lock:
    until = initial_retain_until(
        cls,
        received_at,
        proof_years=tenant.proof_years,
        operational_months=ctx.settings.operational_months,
        service_ended_on=tenant.service_ended_on,
    )
    return Lock(ctx.settings.lock_mode, until)


def finish_manifest(
    ctx: VaultContext,
    *,
    item_id: str,
    req: DepositRequest,
    received_at: dt.datetime,
    size: int,
    sha256: str,
    sha3_256: str,
    commitments: dict[str, str],
    pin: StoragePin,
) -> tuple[bytes, bytes, Receipt]:
    """(evidence.json bytes, leaf hash, signed receipt)."""
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
    )
    evidence = canonical(manifest)
    leaf = leaf_of(evidence)
    body = receipt_body(manifest, leaf)
    return evidence, leaf, Receipt(item_id, body, ctx.sealer.seal(body))


def fault_point(name: str) -> None:
    """Crash on purpose at a named point (``VAULT_FAULT_INJECT=name``); tests use it to prove
    that a crash between the object write and the index commit loses nothing acknowledged."""
    if os.environ.get("VAULT_FAULT_INJECT") == name:
        os._exit(70)
