"""The renewal job (``vault renew``; ``vault up`` runs it on a schedule): RFC 4998 5.2 and 5.3.

1. **Hash-tree renewal** first: every chain whose algorithm is marked weak (within the
   margin) is replaced by a new chain under ``renew_hash_algorithm``: one leaf per item,
   ``H(H(evidence.json) || H(its whole sequence so far))``, one tree, one token.
2. **Timestamp renewal**: every live chain whose last token's TSA certificate expires within
   the margin gets one leaf (the hash of its tokens' group), one tree per algorithm, one token.

So a run costs one token per algorithm whatever the number of batches or items (ADR 0015).
A renewal is written WORM (``renewals/<seq>-<kind>/renewal.json`` and ``timestamp.tsr``,
locked as long as batches) before its index rows; a TSA outage writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from vault.access.principal import SYSTEM, Principal
from vault.context import VaultContext
from vault.errors import ConfigError
from vault.ers.algorithms import hash_fn
from vault.ers.renew import hash_renewal_leaf
from vault.ers.token import token_from_tsr
from vault.evidence.canonical import canonical_known
from vault.evidence.manifest import iso
from vault.index.models import ArchiveStamp, Batch, Item, StampLeaf
from vault.journal.log import record
from vault.renewal.chains import TREES, item_chains, origin_leaf, renewals_of
from vault.renewal.policy import RenewalPolicy
from vault.retention.rules import MAX_PROOF_YEARS, add_months
from vault.storage.s3 import Lock
from vault.timestamp.client import Token, chain_certs, chain_pem, stamp
from vault.tree.hashtree import build_tree

RENEWAL_TYPE = "vault-renewal/1"
BATCH_ALGORITHM = "sha256"  # the batch trees' (ADR 0002)


@dataclass
class _Origin:
    """A chain origin and its tokens so far (ContentInfo DER, oldest first)."""

    name: str
    algorithm: str
    tokens: list[bytes]
    not_after: dt.datetime  # of the last token's TSA certificate


@dataclass
class RenewResult:
    hash_renewals: list[dict[str, Any]] = field(default_factory=list)
    timestamp_renewals: list[dict[str, Any]] = field(default_factory=list)
    live_chains: int = 0
    next_due: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def policy_of(ctx: VaultContext) -> RenewalPolicy:
    s = ctx.settings
    return RenewalPolicy(
        margin=dt.timedelta(days=s.renew_margin_days),
        weak=dict(s.weak_algorithms),
        hash_algorithm=s.renew_hash_algorithm,
    )


def _not_after(pem: str) -> dt.datetime:
    return chain_certs(pem)[0].not_valid_after_utc


def _origins(ctx: VaultContext) -> list[_Origin]:
    """Every live chain origin: batches and hash-tree renewals not yet re-hashed by a later one."""
    with ctx.sessions() as s:
        stamps = list(s.scalars(select(ArchiveStamp).order_by(ArchiveStamp.seq)))
        frozen = {o for st in stamps if st.kind == "hash" for o in json.loads(st.origins)}
        covered: dict[str, list[ArchiveStamp]] = defaultdict(list)
        for covers, seq in s.execute(
            select(StampLeaf.covers, StampLeaf.stamp_seq)
            .join(ArchiveStamp, ArchiveStamp.seq == StampLeaf.stamp_seq)
            .where(ArchiveStamp.kind == "timestamp")
            .order_by(StampLeaf.stamp_seq)
        ):
            covered[covers].append(next(st for st in stamps if st.seq == seq))
        out: list[_Origin] = []
        for seq, tsr, chain in s.execute(select(Batch.seq, Batch.tsr, Batch.tsa_chain).order_by(Batch.seq)):
            name = f"batch:{seq}"
            if name not in frozen:
                out.append(_Origin(name, BATCH_ALGORITHM, [token_from_tsr(bytes(tsr))], _not_after(chain)))
        for st in stamps:
            name = f"stamp:{st.seq}"
            if st.kind == "hash" and name not in frozen:
                out.append(_Origin(name, st.algorithm, [token_from_tsr(st.tsr)], st.tsa_not_after))
    for o in out:
        for r in covered.get(o.name, []):
            o.tokens.append(token_from_tsr(r.tsr))
            o.not_after = r.tsa_not_after
    return out


def _check_tsa(ctx: VaultContext, token: Token, policy: RenewalPolicy, now: dt.datetime) -> None:
    if policy.token_due(token.tsa_cert.not_valid_after_utc, now):
        raise ConfigError(
            "the configured TSA's certificate expires within the renewal margin: a renewal under it "
            "would be due again at once",
            detail=f"{token.tsa_cert.subject.rfc4514_string()} ends {token.tsa_cert.not_valid_after_utc.isoformat()}; "
            "configure a TSA with a longer-lived certificate (docs/long-term.md)",
        )


def _store(
    ctx: VaultContext, kind: str, alg: str, leaves: list[tuple[str, bytes]], origins: list[str], now: dt.datetime,
    policy: RenewalPolicy, who: Principal,
) -> dict[str, Any]:  # fmt: skip
    """Stamp the tree of ``leaves``, write it WORM, then index it; its summary."""
    tree = build_tree([leaf for _, leaf in leaves], hash_fn(alg))
    token = stamp(ctx.tsas, tree.root, hash_name=alg)  # TSAUnavailable: nothing written
    _check_tsa(ctx, token, policy, now)
    tsa_chain = chain_pem(token, ctx.tsas)
    with ctx.sessions() as s:
        head = s.scalars(select(ArchiveStamp.seq).order_by(ArchiveStamp.seq.desc()).limit(1)).first()
    seq = (head or 0) + 1
    prefix = f"renewals/{seq:012d}-{kind}/"
    body = canonical_known(
        {
            "type": RENEWAL_TYPE,
            "seq": seq,
            "kind": kind,
            "algorithm": alg,
            "created_at": iso(now),
            "root": tree.root.hex(),
            "origins": origins,
            "leaves": [[covers, leaf.hex()] for covers, leaf in leaves],
        }
    )
    lock = Lock(ctx.settings.lock_mode, add_months(now, 12 * MAX_PROOF_YEARS))
    versions = {name: ctx.store.put(prefix + name, data, lock).version_id for name, data in (
        ("renewal.json", body), ("timestamp.tsr", token.tsr))}  # fmt: skip
    with ctx.sessions() as s:
        s.add(
            ArchiveStamp(
                seq=seq,
                kind=kind,
                algorithm=alg,
                created_at=now,
                gen_time=token.gen_time,
                tsr=token.tsr,
                tsa_chain=tsa_chain,
                tsa_not_after=token.tsa_cert.not_valid_after_utc,
                origins=json.dumps(origins),
                object_prefix=prefix,
                versions=json.dumps(versions),
            )
        )
        s.flush()
        s.add_all(StampLeaf(stamp_seq=seq, position=i, covers=c, leaf=leaf) for i, (c, leaf) in enumerate(leaves))
        summary: dict[str, Any] = {
            "seq": seq,
            "kind": kind,
            "algorithm": alg,
            "leaves": len(leaves),
            "origins": len(origins),
            "timestamp": iso(token.gen_time),
            "tsa": token.tsa_cert.subject.rfc4514_string(),
            "tsa_not_after": iso(token.tsa_cert.not_valid_after_utc),
        }
        record(s, ctx, who, f"renew_{kind}", renewal=summary)
        s.commit()
    return summary


def _hash_renewal(
    ctx: VaultContext, due: list[_Origin], policy: RenewalPolicy, now: dt.datetime, who: Principal
) -> dict[str, Any]:
    """Re-hash every item of the ``due`` chains under the policy's stronger algorithm."""
    alg = policy.hash_algorithm
    leaves: list[tuple[str, bytes]] = []
    with ctx.sessions() as s:
        rehashed = set(
            s.scalars(
                select(StampLeaf.covers)
                .join(ArchiveStamp, ArchiveStamp.seq == StampLeaf.stamp_seq)
                .where(ArchiveStamp.kind == "hash")
            )
        )
        memo: dict[str, Any] = {"rehashed": rehashed}
        for origin in due:
            kind, _, ref = origin.name.partition(":")
            if kind == "batch":
                rows = s.scalars(select(Item).where(Item.batch_seq == int(ref)).order_by(Item.seq))
            else:
                covers = select(StampLeaf.covers).where(StampLeaf.stamp_seq == int(ref))
                ids = [c.removeprefix("item:") for c in s.scalars(covers)]
                rows = s.scalars(select(Item).where(Item.id.in_(ids)).order_by(Item.seq))
            for item in rows:
                batch = s.get(Batch, item.batch_seq)
                if batch is None or item.evidence is None:
                    continue
                chains = item_chains(s, item, batch, memo)
                leaves.append((f"item:{item.id}", hash_renewal_leaf(bytes(item.evidence), chains, alg)))
    return _store(ctx, "hash", alg, leaves, [o.name for o in due], now, policy, who)


def renew(
    ctx: VaultContext,
    *,
    who: Principal = SYSTEM,
    now: dt.datetime | None = None,
    policy: RenewalPolicy | None = None,
    force: bool = False,
) -> RenewResult:
    """Run the renewals that are due (``force``: renew every live chain's token now)."""
    now = now or ctx.now()
    policy = policy or policy_of(ctx)
    result = RenewResult()
    origins = _origins(ctx)
    weak = [o for o in origins if policy.hash_due(o.algorithm, now)]
    if weak:
        result.hash_renewals.append(_hash_renewal(ctx, weak, policy, now, who))
        origins = _origins(ctx)
    result.live_chains = len(origins)
    due = [o for o in origins if force or policy.token_due(o.not_after, now)]
    by_alg: dict[str, list[_Origin]] = defaultdict(list)
    for o in due:
        by_alg[o.algorithm].append(o)
    for alg, group in sorted(by_alg.items()):
        leaves = [(o.name, origin_leaf(alg, o.tokens)) for o in group]
        result.timestamp_renewals.append(
            _store(ctx, "timestamp", alg, leaves, [o.name for o in group], now, policy, who)
        )
    if due:  # the renewed chains now end with the new tokens
        origins = _origins(ctx)
    result.next_due = iso(min(o.not_after for o in origins) - policy.margin) if origins else None
    return result


__all__ = ["TREES", "RenewResult", "policy_of", "renew", "renewals_of"]
