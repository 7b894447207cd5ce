"""Is an item under a checkpoint an auditor kept? (``vault verify ITEM --checkpoint FILE``)

The kept checkpoint is the anchor, not the index: its signature is checked with the vault's
note key and its origin against this vault's; the item's batch ``seq`` must be leaf
``seq - 1`` of the log it signs: the batch's ``batch.json`` as stored WORM (the manifest
whose root the item's path reaches, checked by the other checks of the report) hashes to a
leaf that the audit path computed from the index's stored hashes takes to the kept root.
Rewritten history, or rewritten stored hashes, fail the check.
"""

from __future__ import annotations

import json

from vault.checkpoint import tree
from vault.checkpoint.log import inclusion
from vault.checkpoint.note import NoteError, open_checkpoint
from vault.context import VaultContext
from vault.errors import VaultError
from vault.keys.notekey import note_verifier
from vault.verify.online import load_item, stored_batch_objects
from vault.verify.report import Report

CHECK = "checkpoint"


def check_under_checkpoint(ctx: VaultContext, report: Report, item_id: str, note: bytes) -> bool:
    """Add the ``checkpoint`` check to ``report``; whether it passed."""
    verifier = note_verifier(ctx.settings)
    if verifier is None:
        return report.add(CHECK, False, "this vault has no checkpoint note key")
    try:
        cp = open_checkpoint(note, verifier, origin=ctx.settings.log_origin)
    except NoteError as e:
        return report.add(CHECK, False, f"the kept checkpoint: {e}")
    try:
        _item, batch = load_item(ctx, item_id)
    except VaultError as e:
        return report.add(CHECK, False, f"item {item_id}: {e}")
    if batch is None:
        return report.add(CHECK, False, "the item is not sealed in a batch yet")
    seq = batch.seq
    if seq > cp.size:
        return report.add(
            CHECK, False, f"batch {seq} is after the kept checkpoint (size {cp.size}): keep a newer checkpoint"
        )
    stored = stored_batch_objects(ctx, batch)
    if isinstance(stored, str):
        return report.add(CHECK, False, stored)
    manifest = stored["batch.json"]
    try:
        doc = json.loads(manifest)
    except ValueError:
        return report.add(CHECK, False, f"batch {seq}: batch.json is not JSON")
    if doc.get("seq") != seq or doc.get("root") != batch.root:
        return report.add(CHECK, False, f"batch {seq}: its batch.json names another batch or root")
    try:
        with ctx.sessions() as s:
            proof = inclusion(s, seq, cp.size)
        tree.check_inclusion(proof, cp.size, cp.root, seq - 1, tree.leaf_hash(manifest))
    except (VaultError, tree.ProofError) as e:
        return report.add(
            CHECK, False, f"batch {seq} is not leaf {seq - 1} of the kept checkpoint (size {cp.size}): {e}"
        )
    return report.add(
        CHECK,
        True,
        f"batch {seq} (leaf {seq - 1}) is under the kept checkpoint of {cp.origin} at size {cp.size}, "
        f"signed by {verifier.name}+{verifier.key_id.hex()}",
    )
