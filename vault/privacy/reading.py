"""Reading an item's personal fields, as corrected, under the read rules.

Rules: an archived item, an item of a restricted subject (GDPR art. 18) and an item of a
purpose the subject objected to (art. 21) are readable by the legal and DPO roles only;
erased and destroyed items have nothing left to read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from vault.access.principal import PRIVILEGED, Principal
from vault.context import VaultContext
from vault.envelope.stream import decrypt_bytes
from vault.errors import KeyError_, NotFound
from vault.evidence.manifest import iso
from vault.index.models import Item, SubjectKey, SubjectStatus
from vault.privacy.commitments import check_disclosure
from vault.proof.payload import PayloadRead


@dataclass(frozen=True)
class ItemView:
    item: Item
    subject: str
    fields: dict[str, Any]  # as corrected
    original: dict[str, Any]
    corrections: list[dict[str, Any]]


def subject_of(ctx: VaultContext, item: Item) -> str:
    with ctx.sessions() as s:
        key = s.get(SubjectKey, item.subject_key_id)
        assert key is not None
        return key.subject


def check_read(ctx: VaultContext, item: Item, who: Principal, *, subject: str | None = None) -> None:
    """Raise Forbidden/NotFound unless ``who`` may read this item's content now."""
    if item.disposal in ("erased", "destroyed"):
        raise NotFound(
            f"item {item.id} was {item.disposal}", detail=f"on {item.disposed_at} under '{item.disposal_rule}'"
        )
    if item.disposal == "archived":
        who.require(PRIVILEGED, f"item {item.id} is in the intermediate archive: reading it")
    subject = subject or subject_of(ctx, item)
    with ctx.sessions() as s:
        status = s.get(SubjectStatus, (item.tenant_id, subject))
    if status is None:
        return
    if status.restricted_at is not None:
        who.require(PRIVILEGED, "the data subject restricted processing (GDPR art. 18): reading their data")
    if item.purpose in json.loads(status.objections or "{}"):
        who.require(PRIVILEGED, f"the data subject objected to the purpose {item.purpose!r}: reading it")


def decoded_fields(ctx: VaultContext, item: Item) -> dict[str, Any]:
    """The item's committed fields, each checked against its sealed commitment."""
    _row, dek = ctx.data_keys.by_id(item.subject_key_id)
    if dek is None:
        raise KeyError_("the subject's key was destroyed", detail=item.id)
    if item.segment_id is not None:
        plaintext = b"".join(PayloadRead(ctx, item).plaintext())
        encoded = json.loads(plaintext)["disclosures"]
    elif item.meta_sealed:
        encoded = json.loads(decrypt_bytes(dek, item.id.encode() + b"/meta", item.meta_sealed))
    else:
        return {}
    assert item.evidence is not None
    commitments = json.loads(item.evidence)["commitments"]
    out: dict[str, Any] = {}
    for e in encoded:
        d = check_disclosure(e, commitments)
        out[d.name] = d.value
    return out


def corrections_of(ctx: VaultContext, item: Item) -> list[Item]:
    with ctx.sessions() as s:
        return list(
            s.scalars(
                select(Item)
                .where(Item.corrects == item.id, Item.state.in_(("stored", "sealed")), Item.disposal.is_(None))
                .order_by(Item.seq)
            ).all()
        )


def view_item(ctx: VaultContext, item: Item) -> ItemView:
    """Fields as corrected (the latest correction of a field wins; the original stays evidence)."""
    original = decoded_fields(ctx, item)
    fields = dict(original)
    log = []
    for c in corrections_of(ctx, item):
        f = decoded_fields(ctx, c)
        fields[str(f["field"])] = f["value"]
        log.append({"id": c.id, "field": f["field"], "value": f["value"], "at": iso(c.received_at)})
    subject = str(original.get("subject", "-"))
    return ItemView(item, subject, fields, original, log)
