"""Check ``client_signature``: the technician's device signed a statement describing this very
deposit (docs/decisions/0013). Shared by online verification and proof folders."""

from __future__ import annotations

from typing import Any

from vault.devices.evidence import Opened
from vault.devices.statement import (
    CREATED_WINDOW,
    fingerprint,
    parse_statement,
    signature_ok,
)
from vault.errors import InputError
from vault.evidence.kinds import RECORD_KINDS
from vault.evidence.manifest import parse_iso
from vault.verify.report import Report

NAME = "client_signature"


def check_client_signature(
    report: Report, opened: Opened, evidence: dict[str, Any], *, plain_sha256: str | None
) -> bool:
    """``plain_sha256``: SHA-256 of the payload (None for a record: its payload is its
    disclosures, not the file its client sent, so the digest is not re-checkable)."""
    try:
        fields = parse_statement(opened.statement)
    except InputError as e:
        return report.add(NAME, False, str(e))
    problems = []
    if fingerprint(opened.public_key) != opened.fingerprint:
        problems.append("the device key does not have the sealed fingerprint")
    if fields["device"] != opened.device:
        problems.append(f"the statement names device {fields['device']}, the evidence {opened.device}")
    if not signature_ok(opened.algorithm, opened.public_key, opened.statement, opened.signature):
        problems.append(f"the {opened.algorithm} signature does not verify over the statement")
    for name, sealed in (
        ("tenant", evidence.get("tenant")),
        ("session", evidence.get("session")),
        ("kind", evidence.get("kind")),
        ("idempotency_key", evidence.get("idempotency_key")),
    ):
        if fields[name] != sealed:
            problems.append(f"the statement's {name} {fields[name]!r} is not the item's ({sealed!r})")
    record = evidence.get("kind") in {k.value for k in RECORD_KINDS}
    found = evidence.get("content")
    content: dict[str, Any] = found if isinstance(found, dict) else {}
    if not record:
        if plain_sha256 is not None and fields["sha256"] != plain_sha256:
            problems.append(f"the statement is of another file (sha256 {fields['sha256']}, payload {plain_sha256})")
        if fields["size"] != content.get("size"):
            problems.append(f"the statement's size {fields['size']} is not the payload's ({content.get('size')})")
    try:
        created, received = parse_iso(fields["created"]), parse_iso(str(evidence.get("received_at")))
        if abs(received - created) > CREATED_WINDOW:
            problems.append(f"signed at {fields['created']}, more than 24 h from the deposit")
    except ValueError as e:
        problems.append(f"times unreadable: {e}")
    if problems:
        return report.add(NAME, False, "; ".join(problems))
    what = (
        f"the record file as sent (sha256 {fields['sha256']}, {fields['size']} bytes; "
        "not re-checkable against a record)"
        if record
        else f"sha256 {fields['sha256']}, {fields['size']} bytes"
    )
    return report.add(
        NAME,
        True,
        f"signed by device {opened.device} ({opened.algorithm}, key sha256:{opened.fingerprint}) at "
        f"{fields['created']}: {what}",
    )
