"""Device keys of technicians, the tenant setting ``require_signatures``, and the check of a
deposit's device signature (docs/decisions/0013).

A device key is bound to the API key that registered it: a deposit may carry its signatures
only when made with that same API key, so a stolen device key is useless without its
technician's API key and a stolen API key cannot borrow another technician's device.
Revoking the API key revokes its devices (checked on every signed deposit).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import select

from vault.access.permissions import Op, authorize, scope_tenant
from vault.access.principal import Principal, Role
from vault.context import VaultContext
from vault.devices.evidence import Attested
from vault.devices.statement import (
    check_fields,
    check_signature,
    fingerprint,
    load_public_key,
    parse_wire,
    pem,
)
from vault.errors import DeviceRevoked, InputError, NotFound, SignatureInvalid
from vault.evidence.manifest import iso
from vault.index.models import ApiKey, Device, Tenant
from vault.journal.log import record
from vault.service.result import Result
from vault.tenants.registry import get_tenant

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_device_id() -> str:
    return "dv_" + "".join(secrets.choice(_ALPHABET) for _ in range(26))


def _doc(row: Device, key: ApiKey | None) -> dict[str, Any]:
    key_revoked = key is not None and key.revoked_at is not None
    return {
        "id": row.id,
        "tenant": row.tenant_id,
        "api_key": row.api_key_id,
        "algorithm": row.algorithm,
        "fingerprint": row.fingerprint,
        "label": row.label,
        "public_key": pem(row.public_key).decode(),
        "created_at": iso(row.created_at),
        "revoked_at": iso(row.revoked_at) if row.revoked_at else None,
        "active": row.revoked_at is None and not key_revoked,
        **({"revoked_because": "its API key was revoked"} if key_revoked and row.revoked_at is None else {}),
    }


def register(ctx: VaultContext, who: Principal, public_key: str, label: str | None = None) -> Result:
    authorize(who, Op.DEVICE_REGISTER)
    if who.key_id is None or who.tenant is None:
        raise InputError("a device key is bound to a technician's API key: register it over the API")
    if label is not None and (len(label) > 200 or not label.isprintable()):
        raise InputError("a device label is at most 200 printable characters")
    if not isinstance(public_key, str) or len(public_key) > 4096:
        raise InputError("public_key is a PEM SubjectPublicKeyInfo of at most 4096 characters")
    algorithm, der = load_public_key(public_key.encode())
    now = ctx.now()
    with ctx.sessions() as s:
        row = Device(
            id=new_device_id(),
            tenant_id=who.tenant,
            api_key_id=who.key_id,
            algorithm=algorithm,
            public_key=der,
            fingerprint=fingerprint(der),
            label=label,
            created_at=now,
        )
        s.add(row)
        record(s, ctx, who, "device_register", tenant=who.tenant, device=row.id, fingerprint=row.fingerprint)
        s.commit()
        return Result(_doc(row, None))


def list_devices(ctx: VaultContext, who: Principal, tenant: str | None = None) -> Result:
    authorize(who, Op.DEVICE_LIST)
    scope = scope_tenant(who, tenant)
    with ctx.sessions() as s:
        q = select(Device, ApiKey).join(ApiKey, ApiKey.id == Device.api_key_id, isouter=True)
        if scope is not None:
            q = q.where(Device.tenant_id == scope)
        if who.role is Role.TECHNICIAN:  # a technician sees the devices of its own key
            q = q.where(Device.api_key_id == who.key_id)
        rows = s.execute(q.order_by(Device.created_at, Device.id)).all()
        return Result({"devices": [_doc(d, k) for d, k in rows]})


def revoke(ctx: VaultContext, who: Principal, device_id: str) -> Result:
    authorize(who, Op.DEVICE_REVOKE)
    with ctx.sessions() as s:
        row = s.get(Device, device_id) if isinstance(device_id, str) and len(device_id) <= 40 else None
        if (
            row is None
            or not who.sees_tenant(row.tenant_id)
            or (who.role is Role.TECHNICIAN and row.api_key_id != who.key_id)
        ):
            raise NotFound("no such device", detail=str(device_id)[:40])
        if row.revoked_at is None:
            row.revoked_at = ctx.now()
            row.revoked_by = who.actor
            record(s, ctx, who, "device_revoke", tenant=row.tenant_id, device=row.id)
        s.commit()
        return Result(_doc(row, s.get(ApiKey, row.api_key_id)))


def settings(ctx: VaultContext, who: Principal, tenant: str) -> Result:
    authorize(who, Op.TENANT_SHOW, tenant=tenant)
    t = get_tenant(ctx.sessions, tenant)
    return Result({"tenant": t.id, "require_signatures": bool(t.require_signatures)})


def set_settings(ctx: VaultContext, who: Principal, tenant: str, *, require_signatures: bool) -> Result:
    authorize(who, Op.TENANT_SETTINGS, tenant=tenant)
    if not isinstance(require_signatures, bool):
        raise InputError("require_signatures is true or false")
    with ctx.sessions() as s:
        t = s.get(Tenant, tenant)
        if t is None:
            raise NotFound(f"no such tenant {tenant!r}")
        if bool(t.require_signatures) != require_signatures:
            t.require_signatures = require_signatures
            record(s, ctx, who, "tenant_settings", tenant=tenant, require_signatures=require_signatures)
        s.commit()
    return Result({"tenant": tenant, "require_signatures": require_signatures})


def attest(
    ctx: VaultContext,
    who: Principal,
    wire: str,
    *,
    tenant: str,
    session: str,
    kind: str,
    idempotency_key: str | None,
    received_at: dt.datetime,
) -> Attested:
    """The checks a signed deposit passes before any byte is stored: well-formed; about this
    tenant, session, kind and idempotency key; ``created`` within 24 h; the device known, bound
    to the calling API key, active (and its API key); the signature verifies. The digest and
    size are checked once every byte is in (:func:`vault.devices.statement.check_content`)."""
    signed = parse_wire(wire)
    check_fields(
        signed, tenant=tenant, session=session, kind=kind, idempotency_key=idempotency_key, received_at=received_at
    )
    with ctx.sessions() as s:
        found = s.execute(
            select(Device, ApiKey.revoked_at)
            .join(ApiKey, ApiKey.id == Device.api_key_id, isouter=True)
            .where(Device.id == signed.device)
        ).first()
    if found is None or found[0].tenant_id != tenant:
        raise SignatureInvalid("unknown device", detail=signed.device)
    device, key_revoked_at = found
    if who.key_id is None or device.api_key_id != who.key_id:
        raise SignatureInvalid(
            "the device is bound to another API key", detail=f"{device.id} may sign only deposits of its own key"
        )
    if not device.algorithm or not device.public_key:
        raise SignatureInvalid("the device row is unusable", detail=device.id)
    check_signature(device.algorithm, bytes(device.public_key), signed)  # forged: refused before revocation
    if device.revoked_at is not None or key_revoked_at is not None:
        raise DeviceRevoked(
            "the device key is revoked",
            detail=f"{device.id}: "
            + ("revoked at " + iso(device.revoked_at) if device.revoked_at else "its API key was revoked"),
        )
    return Attested(signed, device.algorithm, bytes(device.public_key), device.fingerprint)
