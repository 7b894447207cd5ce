"""Kinds of evidence and the purposes of the seed's retention table.

The purposes are the seven rows of the "Durée de conservation" table of the seed privacy
policy; each maps to a retention class: ``proof`` (kept 15 to 99 years, per contract) or
``operational`` (kept 12 months after the end of service).
"""

from __future__ import annotations

from enum import StrEnum

from vault.errors import InputError


class Kind(StrEnum):
    SESSION_LOG = "session_log"
    SESSION_RECORDING = "session_recording"
    SIGNED_DOCUMENT = "signed_document"
    CONNECTION_METADATA = "connection_metadata"
    TRANSACTION_PROOF = "transaction_proof"
    REQUEST = "request"
    CORRECTION = "correction"  # a sealed rectification (GDPR art. 16), made by `vault subject rectify`


class Purpose(StrEnum):
    USE_SERVICE = "use_service"  # Vous permettre d'utiliser ce service
    TRANSACTION_PROOF = "transaction_proof"  # Conserver les preuves de transactions électroniques
    INFORMATION_REQUEST = "information_request"  # Demander des informations sur le service
    REQUEST_HANDLING = "request_handling"  # Traiter et répondre à une demande ou une souscription
    SUPPORT = "support"  # Support technique, bon fonctionnement et sécurisation
    SERVICE_IMPROVEMENT = "service_improvement"  # Améliorer nos services
    PERSONALIZATION = "personalization"  # Offrir un contenu personnalisé


class RetentionClass(StrEnum):
    OPERATIONAL = "operational"
    PROOF = "proof"


DEFAULT_PURPOSE: dict[Kind, Purpose] = {
    Kind.SESSION_LOG: Purpose.SUPPORT,
    Kind.SESSION_RECORDING: Purpose.SUPPORT,
    Kind.SIGNED_DOCUMENT: Purpose.TRANSACTION_PROOF,
    Kind.CONNECTION_METADATA: Purpose.SUPPORT,
    Kind.TRANSACTION_PROOF: Purpose.TRANSACTION_PROOF,
    Kind.REQUEST: Purpose.REQUEST_HANDLING,
    Kind.CORRECTION: Purpose.REQUEST_HANDLING,  # a correction takes its original's purpose
}

#: kinds whose payload is a JSON object of personal fields, each committed on its own
RECORD_KINDS = frozenset({Kind.CONNECTION_METADATA, Kind.CORRECTION})


def parse_kind(value: str) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise InputError(
            f"unknown kind {value!r}", detail="expected one of " + ", ".join(k.value for k in Kind)
        ) from None


def parse_purpose(value: str | None, kind: Kind) -> Purpose:
    if value is None:
        return DEFAULT_PURPOSE[kind]
    try:
        purpose = Purpose(value)
    except ValueError:
        raise InputError(
            f"unknown purpose {value!r}",
            detail="expected one of " + ", ".join(p.value for p in Purpose),
        ) from None
    if kind is Kind.TRANSACTION_PROOF and purpose is not Purpose.TRANSACTION_PROOF:
        raise InputError("a transaction_proof item must have purpose transaction_proof")
    return purpose


def retention_class(purpose: Purpose) -> RetentionClass:
    return RetentionClass.PROOF if purpose is Purpose.TRANSACTION_PROOF else RetentionClass.OPERATIONAL


def salted_content(kind: Kind, purpose: Purpose) -> bool:
    """Does the item's sealed evidence commit to its content with a salted digest
    (``vault-evidence/2``)? Every erasable file item does: an unsalted digest of short or
    templated content would let anyone confirm a guess after the erasure. Transaction proofs
    are never erased and must match the document the other party presents, so they keep the
    plain digests; records (and corrections) are already salted inside, their plaintext being
    the list of their fields' disclosures (docs/decisions/0010-salted-content-digests.md)."""
    return kind not in RECORD_KINDS and retention_class(purpose) is not RetentionClass.PROOF
