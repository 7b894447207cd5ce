"""``/v1/devices``: technicians' device keys; ``/v1/tenants/{tenant}/settings``: whether the
tenant requires device signatures (docs/decisions/0013)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from vault.api.deps import JOURNAL_CALL, JOURNAL_REFUSALS, Ctx, Who
from vault.service import devices

router = APIRouter(prefix="/v1", tags=["devices"], dependencies=[JOURNAL_REFUSALS])


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(min_length=1, max_length=4096, description="PEM SubjectPublicKeyInfo: Ed25519 or P-256")
    label: str | None = Field(default=None, max_length=200)


class TenantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_signatures: bool


@router.post("/devices", status_code=201, summary="Register a device key, bound to this technician API key")
def register(body: DeviceCreate, ctx: Ctx, who: Who) -> dict[str, Any]:
    return devices.register(ctx, who, body.public_key, body.label).as_json()


@router.get("/devices", dependencies=[JOURNAL_CALL], summary="Device keys (a technician: its own key's)")
def list_devices(ctx: Ctx, who: Who, tenant: str | None = Query(default=None, max_length=64)) -> dict[str, Any]:
    return devices.list_devices(ctx, who, tenant).as_json()


@router.delete("/devices/{device_id}", summary="Revoke a device key at once")
def revoke(device_id: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    return devices.revoke(ctx, who, device_id).as_json()


@router.get("/tenants/{tenant}/settings", dependencies=[JOURNAL_CALL], summary="A tenant's deposit settings")
def settings(tenant: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    return devices.settings(ctx, who, tenant).as_json()


@router.put("/tenants/{tenant}/settings", summary="Require device signatures on deposits (or not)")
def set_settings(tenant: str, body: TenantSettings, ctx: Ctx, who: Who) -> dict[str, Any]:
    return devices.set_settings(ctx, who, tenant, require_signatures=body.require_signatures).as_json()
