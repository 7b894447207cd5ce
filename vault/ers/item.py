"""An item's evidence record: the chains of archive timestamps that prove its ``evidence.json``.

Today an item has one chain of one archive timestamp: its path to the batch root and the
batch's token. Renewals (RFC 4998 5.2) append archive timestamps to that chain, or new
chains: :func:`item_chains` is the one place that assembles them.
"""

from __future__ import annotations

from vault.context import VaultContext
from vault.ers.build import Chain, evidence_record
from vault.ers.verify import ERS_FILE
from vault.index.models import Batch, Item

__all__ = ["ERS_FILE", "item_chains", "item_record"]


def item_chains(ctx: VaultContext, item: Item, batch: Batch) -> list[Chain]:
    """The archive timestamp chains of a sealed ``item`` of ``batch``, oldest first, with
    their renewals (vault.renewal.chains, ADR 0015)."""
    from vault.renewal.chains import item_chains as with_renewals

    with ctx.sessions() as s:
        return with_renewals(s, item, batch)


def item_record(ctx: VaultContext, item: Item, batch: Batch) -> bytes:
    """DER ``EvidenceRecord`` of the item (``evidence-record.ers`` of its proof folder)."""
    return evidence_record(item_chains(ctx, item, batch))
