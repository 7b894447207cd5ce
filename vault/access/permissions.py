"""The one permission table: which role may do which operation, and what a refusal says.

Every use case in ``vault.service`` calls :func:`authorize` before it acts. Two rules sit
beside the table:

- **Tenant scope.** A tenant-scoped principal (every API key but an operator's) sees nothing
  of another tenant: an item, hold or subject there is "not found", never "forbidden", so a
  caller cannot learn that it exists.
- **The host operator.** The CLI run on the vault's own host as ``operator`` holds the KEK and
  the storage credentials, so the table cannot keep anything from it; it may do everything,
  and its acts are journalled like any other. Over the API an operator key gets only its row.

``hide`` marks operations whose refusal is "not found" (404) rather than "forbidden" (403):
those that would otherwise confirm that a document or an export exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vault.access.principal import Principal, Role
from vault.errors import Forbidden, NotFound, Unauthenticated


class Op(StrEnum):
    DEPOSIT = "deposit"
    ITEM_READ = "item.read"  # the item's fields (as corrected) and its retention
    ITEM_CONTENT = "item.content"  # the payload bytes
    ITEM_PROOF = "item.proof"  # the proof folder (payload, disclosures, seal, token)
    VERIFY = "verify"  # online verification of an item by id
    VERIFY_FILE = "verify.file"  # is this document in the vault? (digest lookup)
    VERIFY_BUNDLE = "verify.bundle"  # a proof folder checked against the vault's anchors
    CERTIFICATES = "certificates"
    BATCH_READ = "batch.read"
    TENANT_CREATE = "tenant.create"
    TENANT_LIST = "tenant.list"
    TENANT_SHOW = "tenant.show"
    TENANT_END_SERVICE = "tenant.end_service"
    TENANT_PROOF_YEARS = "tenant.proof_years"
    HOLD_ADD = "hold.add"
    HOLD_RELEASE = "hold.release"
    HOLD_LIST = "hold.list"
    RETENTION_POLICY = "retention.policy"
    RETENTION_PLAN = "retention.plan"
    RETENTION_APPLY = "retention.apply"
    RETENTION_ARCHIVE = "retention.archive"
    SUBJECT_ACCESS = "subject.access"
    SUBJECT_RECTIFY = "subject.rectify"
    SUBJECT_ERASE = "subject.erase"
    SUBJECT_RESTRICT = "subject.restrict"
    SUBJECT_OBJECT = "subject.object"
    JOURNAL_LIST = "journal.list"
    JOURNAL_VERIFY = "journal.verify"
    AUDIT = "audit"  # the completeness audit of the index against the sealed chain
    INDEX_REBUILD = "index.rebuild"
    KEK_ROTATE = "kek.rotate"  # rotate, restore and show the KEK epochs
    SEAL = "seal"
    RECOVER = "recover"
    KEY_CREATE = "key.create"
    KEY_LIST = "key.list"
    KEY_REVOKE = "key.revoke"
    DEVICE_REGISTER = "device.register"  # a device key, bound to the registering API key
    DEVICE_LIST = "device.list"
    DEVICE_REVOKE = "device.revoke"  # a technician revokes its own devices only
    TENANT_SETTINGS = "tenant.settings"  # require_signatures (reading it: tenant.show)
    RENEW = "renew"  # archive-timestamp renewal (RFC 4998): the host operator's job
    EXPORT = "export"  # a litigation export bundle (docs/export.md): the legal role only
    CHECKPOINT = "checkpoint"  # signed checkpoints, consistency and inclusion proofs (public)


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    #: anyone, without a key (public documents: anchors, a proof the caller already holds)
    public: bool = False
    #: a refusal is "not found" (404), not "forbidden" (403)
    hide: bool = False


def _r(*roles: Role, public: bool = False, hide: bool = False) -> Rule:
    return Rule(frozenset(roles), public=public, hide=hide)


OP, A, T, L, D, U = Role.OPERATOR, Role.ORG_ADMIN, Role.TECHNICIAN, Role.LEGAL, Role.DPO, Role.AUDITOR
ALL = (OP, A, T, L, D, U)

#: role x operation; docs/api.md prints this table (tests/test_api_roles.py keeps them equal)
TABLE: dict[Op, Rule] = {
    # technicians read back only what they deposited in the last 24 hours (vault.service.items)
    Op.DEPOSIT: _r(T),
    Op.ITEM_READ: _r(T, A, L, D),
    Op.ITEM_CONTENT: _r(T, A, L, D),
    Op.ITEM_PROOF: _r(T, A, L, D),
    Op.VERIFY: _r(T, A, U, L, D, OP),
    Op.VERIFY_FILE: _r(A, U, L),
    Op.VERIFY_BUNDLE: _r(*ALL, public=True),
    Op.CERTIFICATES: _r(*ALL, public=True),
    Op.BATCH_READ: _r(A, U, L, D, OP),
    Op.TENANT_CREATE: _r(OP),
    Op.TENANT_LIST: _r(OP),
    Op.TENANT_SHOW: _r(OP, A, L, D),
    Op.TENANT_END_SERVICE: _r(OP, A),
    Op.TENANT_PROOF_YEARS: _r(OP),
    Op.HOLD_ADD: _r(A, L),
    Op.HOLD_RELEASE: _r(A, L),
    Op.HOLD_LIST: _r(A, L, D, OP),
    Op.RETENTION_POLICY: _r(*ALL),
    Op.RETENTION_PLAN: _r(OP, A, L, D),
    Op.RETENTION_APPLY: _r(OP),
    Op.RETENTION_ARCHIVE: _r(L, D),
    Op.SUBJECT_ACCESS: _r(D),
    Op.SUBJECT_RECTIFY: _r(D),
    Op.SUBJECT_ERASE: _r(D),
    Op.SUBJECT_RESTRICT: _r(D),
    Op.SUBJECT_OBJECT: _r(D),
    Op.JOURNAL_LIST: _r(OP, A, U, L, D),
    Op.JOURNAL_VERIFY: _r(OP, U),
    Op.AUDIT: _r(OP, U),
    Op.INDEX_REBUILD: _r(),  # the host operator only: it writes a whole index
    Op.KEK_ROTATE: _r(),  # the host operator only: it holds the KEK store's PIN
    Op.RENEW: _r(),  # the host operator only (`vault renew`, and `vault up` on a schedule)
    Op.EXPORT: _r(L, hide=True),
    Op.CHECKPOINT: _r(*ALL, public=True),
    Op.SEAL: _r(OP),
    Op.RECOVER: _r(OP),
    Op.KEY_CREATE: _r(OP, A),
    Op.KEY_LIST: _r(OP, A),
    Op.KEY_REVOKE: _r(OP, A),
    Op.DEVICE_REGISTER: _r(T),
    Op.DEVICE_LIST: _r(T, A, OP),
    Op.DEVICE_REVOKE: _r(T, A, OP),
    Op.TENANT_SETTINGS: _r(OP, A),
}

#: the roles an organisation admin may give to keys of its own tenant
ORG_ADMIN_GRANTS = frozenset({Role.TECHNICIAN, Role.AUDITOR, Role.ORG_ADMIN})


def allowed(who: Principal | None, op: Op) -> bool:
    rule = TABLE[op]
    if who is None:
        return rule.public
    return (who.local and who.role is Role.OPERATOR) or who.role in rule.roles


def authorize(who: Principal | None, op: Op, *, tenant: str | None = None) -> None:
    """Raise unless ``who`` (None: no key) may do ``op`` on ``tenant`` (when it names one).

    Another tenant's thing is "not found" whatever the role, checked first so that a refusal
    never confirms it exists.
    """
    if tenant is not None and who is not None and not who.sees_tenant(tenant):
        raise NotFound(f"no such tenant {tenant!r}" if op.name.startswith("TENANT") else "not found")
    if allowed(who, op):
        return
    rule = TABLE[op]
    if who is None:
        raise Unauthenticated("an API key is required", detail=f"{op.value} needs a key")
    if rule.hide:
        raise NotFound("not found")
    raise Forbidden(
        f"the {who.role.value} role may not do {op.value}",
        detail="allowed: " + ", ".join(sorted(r.value for r in rule.roles)),
    )


def scope_tenant(who: Principal, requested: str | None) -> str | None:
    """The tenant a listing covers: a scoped principal's own (another one is "not found"),
    a platform principal's choice (None = all)."""
    if who.tenant is None:
        return requested
    if requested is not None and requested != who.tenant:
        raise NotFound(f"no such tenant {requested!r}")
    return who.tenant
