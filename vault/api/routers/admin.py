"""Tenants, holds, retention, subject rights, journal and API keys, for the roles that may."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from vault.api.deps import JOURNAL_CALL, JOURNAL_REFUSALS, Ctx, Who
from vault.api.zipfolder import folder_as_zip
from vault.retention.policy import load_policy
from vault.service import holds, journal, keys, maintenance, retention, subjects, tenants

router = APIRouter(prefix="/v1", tags=["administration"], dependencies=[JOURNAL_REFUSALS])

Name = Field(min_length=1, max_length=64)


# -- tenants ------------------------------------------------------------------------------------
class TenantCreate(BaseModel):
    tenant: str = Name
    proof_years: int | None = Field(default=None, ge=15, le=99)


class EndService(BaseModel):
    date: dt.date


class ProofYears(BaseModel):
    years: int = Field(ge=15, le=99)


@router.get("/tenants", dependencies=[JOURNAL_CALL], summary="Every tenant (operator)")
def tenant_list(ctx: Ctx, who: Who) -> dict[str, Any]:
    return tenants.list_all(ctx, who).as_json()


@router.post("/tenants", status_code=201, summary="Create a tenant and its proof retention (operator)")
def tenant_create(body: TenantCreate, ctx: Ctx, who: Who) -> dict[str, Any]:
    return tenants.create(ctx, who, body.tenant, body.proof_years).as_json()


@router.get("/tenants/{tenant}", dependencies=[JOURNAL_CALL], summary="A tenant's contract")
def tenant_show(tenant: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    return tenants.show(ctx, who, tenant).as_json()


@router.post("/tenants/{tenant}/end-of-service", summary="Record the end of service (extends locks)")
def tenant_end(tenant: str, body: EndService, ctx: Ctx, who: Who) -> dict[str, Any]:
    return tenants.end_service(ctx, who, tenant, body.date).as_json()


@router.post("/tenants/{tenant}/proof-years", summary="Lengthen the proof retention (operator)")
def tenant_years(tenant: str, body: ProofYears, ctx: Ctx, who: Who) -> dict[str, Any]:
    return tenants.set_proof_years(ctx, who, tenant, body.years).as_json()


# -- holds ----------------------------------------------------------------------------------------
class HoldBody(BaseModel):
    tenant: str | None = Field(default=None, min_length=1, max_length=64)
    case: str = Field(min_length=1, max_length=200)
    session: str | None = Field(default=None, min_length=1, max_length=200)
    item: str | None = Field(default=None, min_length=1, max_length=40)


@router.get("/holds", dependencies=[JOURNAL_CALL], summary="Legal holds of the key's tenant (operator: all)")
def hold_list(
    ctx: Ctx, who: Who, tenant: str | None = None, all: bool = Query(False, description="include released")
) -> dict[str, Any]:
    return holds.list_(ctx, who, tenant=tenant, active_only=not all).as_json()


@router.post("/holds", status_code=201, summary="Place a legal hold (tenant, session or item)")
def hold_add(body: HoldBody, ctx: Ctx, who: Who) -> dict[str, Any]:
    tenant = body.tenant or who.tenant or ""
    return holds.add(ctx, who, tenant=tenant, case=body.case, session=body.session, item=body.item).as_json()


@router.post("/holds/release", summary="Release a legal hold")
def hold_release(body: HoldBody, ctx: Ctx, who: Who) -> dict[str, Any]:
    tenant = body.tenant or who.tenant or ""
    return holds.release(ctx, who, tenant=tenant, case=body.case, session=body.session, item=body.item).as_json()


# -- retention ------------------------------------------------------------------------------------
@router.get("/retention/policy", dependencies=[JOURNAL_CALL], summary="The retention rules in force")
def retention_policy(ctx: Ctx, who: Who) -> dict[str, Any]:
    return retention.policy(ctx, who, load_policy(ctx.settings.retention_policy)).as_json()


@router.get("/retention/plan", dependencies=[JOURNAL_CALL], summary="What is due or kept, and why (changes nothing)")
def retention_plan(ctx: Ctx, who: Who, at: dt.date | None = None, tenant: str | None = None) -> dict[str, Any]:
    when = dt.datetime.combine(at, dt.time(), tzinfo=dt.UTC) if at else None
    return retention.plan(ctx, who, at=when, tenant=tenant).as_json()


@router.post("/retention/apply", summary="Destroy and archive what is due now (operator)")
def retention_apply(ctx: Ctx, who: Who, tenant: str | None = None) -> dict[str, Any]:
    return retention.apply(ctx, who, tenant=tenant).as_json()


class ArchiveBody(BaseModel):
    tenant: str | None = Field(default=None, min_length=1, max_length=64)
    session: str | None = Field(default=None, min_length=1, max_length=200)
    item: str | None = Field(default=None, min_length=1, max_length=40)


@router.post("/retention/archive", summary="Intermediate archive at the end of the active period (legal, dpo)")
def retention_archive(body: ArchiveBody, ctx: Ctx, who: Who) -> dict[str, Any]:
    tenant = body.tenant or who.tenant or ""
    return retention.archive(ctx, who, tenant=tenant, session=body.session, item=body.item).as_json()


# -- subject rights -------------------------------------------------------------------------------
class Rectification(BaseModel):
    item: str = Field(min_length=1, max_length=40)
    field: str = Field(min_length=1, max_length=64)
    value: str = Field(max_length=10_000)


class Objection(BaseModel):
    purpose: str = Field(min_length=1, max_length=32)


class Restriction(BaseModel):
    lift: bool = False


def _tenant(who: Any, tenant: str | None) -> str:
    return tenant or who.tenant or ""


@router.get(
    "/subjects/{subject}/access",
    summary="Access and portability: subject.json and files, as a zip (dpo)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
async def subject_access(subject: str, ctx: Ctx, who: Who, tenant: str | None = None) -> StreamingResponse:
    return await folder_as_zip(
        lambda out: subjects.access(ctx, who, _tenant(who, tenant), subject, out),
        top=f"subject-{subject}",
        filename=f"subject-{subject}.zip",
    )


@router.post("/subjects/{subject}/rectify", summary="Append a sealed correction (dpo)")
def subject_rectify(subject: str, body: Rectification, ctx: Ctx, who: Who, tenant: str | None = None) -> dict[str, Any]:
    return subjects.rectify(
        ctx, who, _tenant(who, tenant), subject, item=body.item, field=body.field, value=body.value
    ).as_json()


@router.post("/subjects/{subject}/erase", summary="Crypto-shred where the law allows; refuse where it keeps (dpo)")
def subject_erase(subject: str, ctx: Ctx, who: Who, tenant: str | None = None) -> dict[str, Any]:
    result, sealed = subjects.erase(ctx, who, _tenant(who, tenant), subject)
    return {**result.as_json(), "sealed": sealed}


@router.post("/subjects/{subject}/restrict", summary="Restrict processing, or lift it (dpo)")
def subject_restrict(subject: str, body: Restriction, ctx: Ctx, who: Who, tenant: str | None = None) -> dict[str, Any]:
    return subjects.restrict(ctx, who, _tenant(who, tenant), subject, lift=body.lift).as_json()


@router.post("/subjects/{subject}/object", summary="Record an objection to a purpose (dpo)")
def subject_object(subject: str, body: Objection, ctx: Ctx, who: Who, tenant: str | None = None) -> dict[str, Any]:
    return subjects.object_to(ctx, who, _tenant(who, tenant), subject, body.purpose).as_json()


# -- journal --------------------------------------------------------------------------------------
@router.get("/journal", dependencies=[JOURNAL_CALL], summary="Who did what, when (the key's tenant; operator: all)")
def journal_list(
    ctx: Ctx,
    who: Who,
    since: dt.date | None = None,
    limit: int = Query(100, ge=1, le=10_000),
    tenant: str | None = None,
    action: str | None = Query(None, max_length=40),
) -> dict[str, Any]:
    when = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC) if since else None
    return journal.entries(ctx, who, since=when, limit=limit, tenant=tenant, action=action).as_json()


@router.post(
    "/journal/verify", dependencies=[JOURNAL_CALL], summary="Prove the journal intact against its sealed batches"
)
def journal_verify(ctx: Ctx, who: Who) -> dict[str, Any]:
    return journal.verify(ctx, who).as_json()


# -- API keys -------------------------------------------------------------------------------------
class KeyCreate(BaseModel):
    role: str = Field(min_length=1, max_length=32)
    tenant: str | None = Field(default=None, min_length=1, max_length=64)
    expires_at: dt.datetime | None = None
    label: str | None = Field(default=None, max_length=200)


@router.get("/keys", dependencies=[JOURNAL_CALL], summary="API keys of the tenant (never their secrets)")
def key_list(ctx: Ctx, who: Who, tenant: str | None = None) -> dict[str, Any]:
    return keys.list_(ctx, who, tenant=tenant).as_json()


@router.post("/keys", status_code=201, summary="Create an API key; the key is in this answer only")
def key_create(body: KeyCreate, ctx: Ctx, who: Who) -> dict[str, Any]:
    expires = body.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    return keys.create(ctx, who, tenant=body.tenant, role=body.role, expires_at=expires, label=body.label).as_json()


@router.post("/keys/{key_id}/revoke", summary="Revoke an API key at once")
def key_revoke(key_id: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    return keys.revoke(ctx, who, key_id).as_json()


# -- maintenance ----------------------------------------------------------------------------------
@router.post(
    "/seal", dependencies=[JOURNAL_CALL], summary="Close the open batch now and wait for its seal and token (operator)"
)
def seal_now(ctx: Ctx, who: Who) -> dict[str, Any]:
    return maintenance.seal(ctx, who).as_json()


@router.post(
    "/recover", dependencies=[JOURNAL_CALL], summary="Mark deposits interrupted by a crash as orphaned (operator)"
)
def recover(
    ctx: Ctx, who: Who, older_than: float = Query(900, ge=0, le=10 * 365 * 86400, description="seconds")
) -> dict[str, Any]:
    return maintenance.recover(ctx, who, older_than=dt.timedelta(seconds=older_than)).as_json()


@router.post(
    "/audit", dependencies=[JOURNAL_REFUSALS], summary="Completeness audit of the index against the sealed chain"
)
def audit_now(ctx: Ctx, who: Who, tenant: str | None = None) -> dict[str, Any]:
    from vault.service.audit import audit

    return audit(ctx, who, tenant=tenant).as_json()
