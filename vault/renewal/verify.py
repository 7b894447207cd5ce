"""Is an item provable as of a date (``vault verify ID --at DATE``)? Its evidence record,
as the vault would export it today, checked by :func:`vault.ers.verify.verify_record`."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from sqlalchemy import select

from vault.context import VaultContext
from vault.errors import InputError
from vault.ers.build import evidence_record
from vault.ers.verify import INVALID, ErsReport, verify_record
from vault.index.models import ArchiveStamp, Batch, Item
from vault.renewal.chains import item_chains
from vault.renewal.run import policy_of
from vault.timestamp.client import chain_certs
from vault.verify.report import Check, Report


def tsa_roots(ctx: VaultContext, *chains_pem: str) -> list[x509.Certificate]:
    """The TSA anchors the vault trusts: the configured ones, and those it recorded when it
    accepted a token (a TSA no longer configured still anchors its old tokens)."""
    found: dict[bytes, x509.Certificate] = {}
    for c in [r for t in ctx.tsas for r in t.roots]:
        found.setdefault(c.tbs_certificate_bytes, c)
    for pem in set(chains_pem):
        for c in chain_certs(pem)[1:]:
            found.setdefault(c.tbs_certificate_bytes, c)
    return list(found.values())


def long_term(ctx: VaultContext, item: Item, batch: Batch, at: dt.datetime) -> ErsReport:
    """The item's evidence record as the vault would export it now, verified as of ``at``; a
    row the tokens do not bear out makes it invalid (never a crash)."""
    if item.evidence is None:
        raise InputError(f"item {item.id} has no evidence")
    with ctx.sessions() as s:
        stamps = [st.tsa_chain for st in s.scalars(select(ArchiveStamp))]
        try:
            chains = item_chains(s, item, batch)
        except (InputError, KeyError, ValueError) as e:  # a row that does not fit its tokens
            reason = f"the evidence record cannot be built from the index: {e}"
            return ErsReport(INVALID, reason, at, [Check("record", False, reason)])
    roots = tsa_roots(ctx, batch.tsa_chain, *stamps)
    policy = policy_of(ctx)
    return verify_record(evidence_record(chains), bytes(item.evidence), roots=roots, at=at, weak=policy.weak)


def check_long_term(ctx: VaultContext, item: Item, batch: Batch, at: dt.datetime, report: Report) -> None:
    """Add the ``long_term`` check: the item's evidence record is valid as of ``at``."""
    try:
        ers = long_term(ctx, item, batch, at)
    except InputError as e:
        report.add("long_term", False, f"the evidence record cannot be built: {e}")
        return
    report.info["long_term"] = ers.as_json()
    when = at.date().isoformat()
    if ers.valid:
        report.add("long_term", True, f"provable as of {when}: {ers.reason}".rstrip(": "))
    else:
        label = "not provable" if ers.status == "not_provable" else "invalid evidence record"
        report.add("long_term", False, f"{label} as of {when}: {ers.reason}")
