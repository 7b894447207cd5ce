"""An auditor's check on the host: does the newest checkpoint extend one kept earlier?

(`vault checkpoint --since KEPT`.) Both notes are opened with the vault's note key, and the
RFC 6962 consistency proof the index gives is checked against the two signed roots: a proof
from rewritten stored hashes does not check. A witness off the host does the same with
``GET /v1/consistency`` and any tlog checker (docs/long-term.md).
"""

from __future__ import annotations

from vault.checkpoint import tree
from vault.checkpoint.log import consistency
from vault.checkpoint.note import NoteError, open_checkpoint
from vault.context import VaultContext
from vault.errors import VaultError
from vault.keys.notekey import note_verifier


def check_since(ctx: VaultContext, kept: bytes, newest: str) -> tuple[bool, str]:
    verifier = note_verifier(ctx.settings)
    if verifier is None:
        return False, "this vault has no checkpoint note key"
    try:
        old = open_checkpoint(kept, verifier, origin=ctx.settings.log_origin)
    except NoteError as e:
        return False, f"the kept checkpoint: {e}"
    try:
        new = open_checkpoint(newest, verifier, origin=ctx.settings.log_origin)
    except NoteError as e:
        return False, f"the newest checkpoint: {e}"
    if old.size > new.size:
        return False, f"the kept checkpoint (size {old.size}) is newer than the newest one ({new.size})"
    try:
        with ctx.sessions() as s:
            proof = consistency(s, old.size, new.size).proof
        tree.check_consistency(proof, new.size, new.root, old.size, old.root)
    except (VaultError, tree.ProofError) as e:
        return False, f"size {old.size} -> {new.size}: {e}"
    return True, f"the log of size {new.size} extends the kept checkpoint of size {old.size} ({len(proof)} hashes)"
