"""What the vault publishes of its checkpoint log: signed checkpoints, consistency and inclusion
proofs. Public (no key), like the anchors: a witness or an auditor needs no account."""

from __future__ import annotations

import base64

from vault.access.permissions import Op, authorize
from vault.access.principal import Principal
from vault.checkpoint import log
from vault.context import VaultContext
from vault.errors import InputError, NotFound
from vault.service.result import Result

MAX_SIZE = 2**62


def _size(value: int, what: str) -> int:
    if not 1 <= value <= MAX_SIZE:
        raise InputError(f"{what} is a tree size >= 1", detail=str(value))
    return value


def latest(ctx: VaultContext, who: Principal | None) -> str:
    """The newest signed checkpoint (C2SP tlog-checkpoint, a signed note)."""
    authorize(who, Op.CHECKPOINT)
    with ctx.sessions() as s:
        return log.latest_note(s)[1]


def at_size(ctx: VaultContext, who: Principal | None, size: int) -> str:
    authorize(who, Op.CHECKPOINT)
    _size(size, "size")
    with ctx.sessions() as s:
        return log.note_at(s, size)


def consistency(ctx: VaultContext, who: Principal | None, old: int, new: int) -> Result:
    """The RFC 6962 consistency proof between two published checkpoints (422 from > to, 404 for
    a size never published)."""
    authorize(who, Op.CHECKPOINT)
    _size(old, "from")
    _size(new, "to")
    if old > new:
        raise InputError("from is larger than to", detail=f"from={old} to={new}")
    with ctx.sessions() as s:
        for size in (old, new):
            try:
                log.note_at(s, size)
            except NotFound:
                raise NotFound("no checkpoint published for this size", detail=str(size)) from None
        proof = log.consistency(s, old, new)
    return Result(proof.as_json(ctx.settings.log_origin))


def inclusion(ctx: VaultContext, who: Principal | None, batch: int, size: int) -> Result:
    """The audit path of batch ``batch`` (leaf ``batch - 1``, its ``batch.json``) in the
    published checkpoint of ``size``."""
    authorize(who, Op.CHECKPOINT)
    _size(batch, "batch")
    _size(size, "size")
    if batch > size:
        raise InputError("the batch is after this checkpoint", detail=f"batch={batch} size={size}")
    with ctx.sessions() as s:
        log.note_at(s, size)
        proof = log.inclusion(s, batch, size)
        root = log.root_at(s, size)
    b64 = base64.b64encode
    return Result(
        {
            "origin": ctx.settings.log_origin,
            "batch": batch,
            "leaf_index": batch - 1,
            "size": size,
            "root": b64(root).decode(),
            "proof": [b64(h).decode() for h in proof],
        }
    )
