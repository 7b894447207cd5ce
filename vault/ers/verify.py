"""Verify an RFC 4998 evidence record against its data object, as of a date (pure).

What RFC 4998 5.3 asks, check by check:

1. the first archive timestamp of the first chain covers ``H(data)``;
2. in each chain, every later archive timestamp covers the ``timeStamp`` field of the one
   before it, with the chain's single hash algorithm (``digestAlgorithm`` = the token's
   imprint algorithm);
3. the first archive timestamp of every later chain covers ``H(H(data) || H(atsc))``, atsc
   the DER sequence of all the chains before it (a hash-tree renewal);

and for every archive timestamp: its reduced hash tree leads to its token's imprint, and the
token verifies (signature, ESS certificate binding, timeStamping EKU, chain to ``roots`` as
of its genTime: :func:`vault.timestamp.client.verify_token`). Any failure: **invalid**.

Then "valid as of ``at``" (the record as it stood then: its archive timestamps made by
``at``): each one's TSA certificate (and the anchor that issued it) was valid when the next
one was made, the last one's is valid at ``at``; a chain's algorithm marked weak (``weak``:
name -> date) was renewed by a hash-tree renewal before that date, or ``at`` is before it.
Any failure there: **not provable** as of ``at``, with the reason (which certificate ended
when). Revocation is not checked (the vault's TSAs publish none; RFC 4998 ``cryptoInfos``
could carry it).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from vault.errors import InputError, TimestampError
from vault.ers.algorithms import digest, oid_of
from vault.ers.asn1 import ArchiveTimeStamp
from vault.ers.build import Record, ats_algorithm, ats_lists, ats_timestamp, load_record, sequence_der
from vault.ers.token import as_tsr, token_facts
from vault.ers.tree import covers
from vault.keys.trust import issuing_anchor
from vault.timestamp.client import verify_token
from vault.verify.report import Check

#: TSA clocks differ and round (OpenSSL to the second): a renewal may carry a genTime this
#: much before the token it renews (as vault.verify.proof_checks.CLOCK_TOLERANCE)
ORDER_TOLERANCE = dt.timedelta(minutes=5)

#: the evidence record's name in a proof folder (``vault proof``)
ERS_FILE = "evidence-record.ers"

VALID = "valid"
INVALID = "invalid"
NOT_PROVABLE = "not_provable"


@dataclass(frozen=True)
class TimestampInfo:
    """One archive timestamp as verified (``chain`` and ``index`` count from 1)."""

    chain: int
    index: int
    algorithm: str
    gen_time: dt.datetime
    tsa: str
    tsa_not_after: dt.datetime
    #: the TSA certificate and the anchor that issued it must both be valid at a date
    valid_from: dt.datetime
    valid_until: dt.datetime

    @property
    def label(self) -> str:
        return f"chain {self.chain} timestamp {self.index}"

    def as_json(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "index": self.index,
            "algorithm": self.algorithm,
            "gen_time": self.gen_time.isoformat(),
            "tsa": self.tsa,
            "tsa_not_after": self.tsa_not_after.isoformat(),
            "valid_until": self.valid_until.isoformat(),
        }


@dataclass
class ErsReport:
    """``status``: ``valid``, ``invalid`` or ``not_provable`` (as of ``at``), and why."""

    status: str
    reason: str
    at: dt.datetime
    checks: list[Check] = field(default_factory=list)
    timestamps: list[TimestampInfo] = field(default_factory=list)
    #: when the record stops being provable unless renewed (last TSA certificate or anchor
    #: expiry, or the last chain's algorithm turning weak), None when it cannot tell
    renew_by: dt.datetime | None = None

    @property
    def valid(self) -> bool:
        return self.status == VALID

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "renew_by": self.renew_by.isoformat() if self.renew_by else None,
            "checks": [c.as_json() for c in self.checks],
            "timestamps": [t.as_json() for t in self.timestamps],
        }


def _aware(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return dt.datetime.now(dt.UTC)
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _expected(data: bytes, chains: Sequence[Sequence[ArchiveTimeStamp]], k: int, j: int, alg: str) -> tuple[bytes, str]:
    """What archive timestamp ``j`` of chain ``k`` must cover, and how to say it."""
    if j > 0:
        return digest(alg, ats_timestamp(chains[k][j - 1])), f"covers timestamp {j} of its chain (renewal)"
    if k == 0:
        return digest(alg, data), "covers the data"
    atsc = digest(alg, sequence_der(chains[:k]))
    return digest(alg, digest(alg, data) + atsc), f"covers the data and the {k} chain(s) before it (hash-tree renewal)"


def _check_ats(
    checks: list[Check],
    data: bytes,
    chains: Sequence[Sequence[ArchiveTimeStamp]],
    k: int,
    j: int,
    chain_alg: str,
    roots: Sequence[x509.Certificate],
) -> TimestampInfo | None:
    ats = chains[k][j]
    name = f"chain {k + 1} timestamp {j + 1}"
    try:
        alg = ats_algorithm(ats)
        token = ats_timestamp(ats)
        facts = token_facts(token)
        if alg != chain_alg:
            raise InputError(f"uses {alg} in a {chain_alg} chain (RFC 4998 5.2: a chain keeps one algorithm)")
        if facts.imprint_oid != oid_of(alg):
            raise InputError(f"its token's imprint is not {alg} (RFC 4998 4.3 step 4)")
        expected, what = _expected(data, chains, k, j, alg)
        problem = covers(ats_lists(ats), facts.imprint, expected, alg)
    except InputError as e:
        checks.append(Check(name, False, f"{name}: {e}" + (f" ({e.detail})" if e.detail else "")))
        return None
    checks.append(Check(name, problem is None, f"{name} {what}" if problem is None else f"{name}: {problem}"))
    try:
        verified = verify_token(as_tsr(token), facts.imprint, roots)
    except (TimestampError, InputError) as e:
        checks.append(Check(f"{name} token", False, f"{name}: token invalid: {e}"))
        return None
    cert = verified.tsa_cert
    anchor = cert if any(cert == r for r in roots) else issuing_anchor(cert, roots)
    validity = [cert, *([anchor] if anchor is not None and anchor is not cert else [])]
    subject = cert.subject.rfc4514_string()
    checks.append(
        Check(f"{name} token", True, f"{name}: token by {subject} at {verified.gen_time.isoformat()} verifies")
    )
    return TimestampInfo(
        chain=k + 1,
        index=j + 1,
        algorithm=alg,
        gen_time=verified.gen_time,
        tsa=subject,
        tsa_not_after=cert.not_valid_after_utc,
        valid_from=max(c.not_valid_before_utc for c in validity),
        valid_until=min(c.not_valid_after_utc for c in validity),
    )


def _structure(record: Record) -> tuple[list[Check], list[str]]:
    checks: list[Check] = []
    algs: list[str] = []
    for k, chain in enumerate(record.chains):
        try:
            algs.append(ats_algorithm(chain[0]))
        except InputError as e:
            checks.append(Check(f"chain {k + 1}", False, f"chain {k + 1}: {e} ({e.detail})"))
            algs.append("?")
    unlisted = sorted({a for a in algs if a != "?" and a not in record.digest_algorithms})
    checks.append(
        Check(
            "digest_algorithms",
            not unlisted,
            "the record lists its chains' algorithms: " + ", ".join(record.digest_algorithms)
            if not unlisted
            else "digestAlgorithms does not list " + ", ".join(unlisted),
        )
    )
    return checks, algs


def _provable(infos: Sequence[TimestampInfo], at: dt.datetime, weak: Mapping[str, dt.datetime]) -> tuple[bool, str]:
    """Is the record (as it stood at ``at``) provable at ``at``? RFC 4998 5.3, times only."""
    made = [t for t in infos if t.gen_time <= at]
    if not made:
        return False, f"the data was first timestamped at {infos[0].gen_time.isoformat()}, after {at.isoformat()}"
    for i, t in enumerate(made):
        last = i == len(made) - 1
        when = at if last else made[i + 1].gen_time
        if not t.valid_from <= when <= t.valid_until:
            span = f"{t.valid_from.isoformat()} to {t.valid_until.isoformat()}"
            ended = f"its TSA certificate ({t.tsa}) and its anchor were valid {span}"
            if last:
                return False, (
                    f"{t.label} (genTime {t.gen_time.isoformat()}) is the last one made by {at.isoformat()}, and "
                    f"{ended}: nothing renewed it while it was valid"
                )
            return False, f"{t.label}: {ended}, but it was renewed only at {when.isoformat()}"
    for i, t in enumerate(made):
        if t.index != 1:
            continue
        starts = [u.gen_time for u in made[i + 1 :] if u.index == 1]
        until = starts[0] if starts else at
        weak_from = weak.get(t.algorithm)
        if weak_from is not None and until >= weak_from:
            return False, (
                f"chain {t.chain} hashes with {t.algorithm}, weak from {weak_from.isoformat()}, and was not "
                f"re-hashed (hash-tree renewal) before that date"
                + ("" if starts else f" (verified as of {at.isoformat()})")
            )
    final = made[-1]
    return True, (
        f"valid as of {at.isoformat()}: {len(made)} archive timestamp(s) in {final.chain} chain(s); the last, "
        f"by {final.tsa} at {final.gen_time.isoformat()}, is valid until {final.valid_until.isoformat()}"
    )


def summary(report: ErsReport) -> str:
    """One line for a verification report: the status, why, and when to renew."""
    renew = f"; renew by {report.renew_by.isoformat()}" if report.renew_by and report.valid else ""
    if report.status == VALID:
        return f"RFC 4998 evidence record {report.reason}{renew}"
    what = "invalid" if report.status == INVALID else f"not provable as of {report.at.isoformat()}"
    return f"RFC 4998 evidence record {what}: {report.reason}"


def verify_record(
    der: bytes,
    data: bytes,
    *,
    roots: Sequence[x509.Certificate],
    at: dt.datetime | None = None,
    weak: Mapping[str, dt.datetime] | None = None,
) -> ErsReport:
    """Verify the evidence record ``der`` over the data object ``data`` (an item's
    ``evidence.json`` bytes) with the TSA trust anchors ``roots``, as of ``at`` (default
    now), with hash algorithms ``weak`` from the given dates. See the module's notes."""
    when = _aware(at)
    weak = {k: _aware(v) for k, v in (weak or {}).items()}
    try:
        record = load_record(der)
    except InputError as e:
        reason = f"{e} ({e.detail})" if e.detail else str(e)
        return ErsReport(INVALID, reason, when, [Check("record", False, reason)])
    checks, algs = _structure(record)
    infos: list[TimestampInfo] = []
    for k, chain in enumerate(record.chains):
        if algs[k] == "?":
            continue
        for j in range(len(chain)):
            info = _check_ats(checks, data, record.chains, k, j, algs[k], roots)
            if info is not None:
                infos.append(info)
    total = sum(len(c) for c in record.chains)
    out_of_order = [
        f"{b.label} ({b.gen_time.isoformat()}) before {a.label} ({a.gen_time.isoformat()})"
        for a, b in itertools.pairwise(infos)
        if b.gen_time < a.gen_time - ORDER_TOLERANCE
    ]
    if len(infos) == total:
        checks.append(
            Check(
                "order",
                not out_of_order,
                "each archive timestamp was made after the one it renews"
                if not out_of_order
                else "renewal made before what it renews: " + "; ".join(out_of_order),
            )
        )
    failed = [c for c in checks if not c.ok]
    if failed:
        return ErsReport(INVALID, failed[0].detail, when, checks, infos)
    ok, reason = _provable(infos, when, weak)
    checks.append(Check("provable", ok, reason))
    last = infos[-1]
    ends = [last.valid_until, *([weak[last.algorithm]] if last.algorithm in weak else [])]
    return ErsReport(VALID if ok else NOT_PROVABLE, reason, when, checks, infos, renew_by=min(ends))
