"""The retention policy as data: each purpose of the seed's table mapped to its rule.

Pure logic, no I/O beyond reading the TOML file: what a purpose's retain-until date is, and
whether an item is due, kept or refused erasure, are decided here from plain values so that
every rule can be tested without servers (and with any clock).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from vault.errors import ConfigError
from vault.evidence.kinds import Purpose, RetentionClass, retention_class
from vault.retention.rules import add_months, check_proof_years


class RuleKind(StrEnum):
    AFTER_END_OF_SERVICE = "after_end_of_service"
    CONTRACT_YEARS = "contract_years"


class LegalBasis(StrEnum):
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    LEGITIMATE_INTEREST = "legitimate_interest"
    CONSENT = "consent"


@dataclass(frozen=True)
class PurposeRule:
    purpose: Purpose
    label: str
    rule: RuleKind
    months: int  # after_end_of_service only
    legal_basis: LegalBasis
    erasable: bool
    refusal: str
    archive_max_months: int

    @property
    def name(self) -> str:
        """Short, stable name of the rule, as written in plans and destruction records."""
        if self.rule is RuleKind.CONTRACT_YEARS:
            return "contract proof period (15-99 years after deposit)"
        return f"{self.months} months after end of service"

    @property
    def retention_class(self) -> RetentionClass:
        return retention_class(self.purpose)

    def retain_until(
        self, received_at: dt.datetime, *, proof_years: int, service_ended_on: dt.date | None
    ) -> dt.datetime | None:
        """End of the active period; ``None`` while it cannot be known (service not ended)."""
        if self.rule is RuleKind.CONTRACT_YEARS:
            return add_months(received_at, 12 * check_proof_years(proof_years))
        if service_ended_on is None:
            return None
        return add_months(max(received_at, end_of_day(service_ended_on)), self.months)

    def committed_until(
        self, received_at: dt.datetime, *, proof_years: int, service_ended_on: dt.date | None
    ) -> dt.datetime:
        """What the vault commits to (and locks) now: the retain-until date, or, while the
        service goes on, its lower bound ``received + months`` (the service cannot end before
        the item arrived), extended when the end of service is recorded."""
        until = self.retain_until(received_at, proof_years=proof_years, service_ended_on=service_ended_on)
        return until if until is not None else add_months(received_at, self.months)


def end_of_day(day: dt.date) -> dt.datetime:
    """The whole last day of service counts: the clock starts at the end of that day (UTC)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


@dataclass(frozen=True)
class Policy:
    rules: dict[Purpose, PurposeRule]
    source: str

    def __getitem__(self, purpose: str) -> PurposeRule:
        return self.rules[Purpose(purpose)]

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "purposes": {
                p.value: {
                    "label": r.label,
                    "rule": r.rule.value,
                    "rule_name": r.name,
                    **({"months": r.months} if r.rule is RuleKind.AFTER_END_OF_SERVICE else {}),
                    "legal_basis": r.legal_basis.value,
                    "erasable": r.erasable,
                    "archive_max_months": r.archive_max_months,
                }
                for p, r in self.rules.items()
            },
        }


DEFAULT_POLICY = "default_policy.toml"


def load_policy(path: Path | None = None) -> Policy:
    """The policy at ``path``, or the shipped default (the seed's seven purposes)."""
    if path is None:
        text = resources.files("vault.retention").joinpath(DEFAULT_POLICY).read_text("utf-8")
        source = "built-in default (seed table)"
    else:
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            why = getattr(e, "strerror", None) or str(e)
            raise ConfigError("cannot read the retention policy", detail=f"{path}: {why}") from e
        source = str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("the retention policy is not valid TOML", detail=f"{source}: {e}") from e
    return parse_policy(raw, source)


def parse_policy(raw: dict[str, Any], source: str = "<policy>") -> Policy:
    purposes = raw.get("purposes")
    if not isinstance(purposes, dict):
        raise ConfigError("the retention policy needs [purposes.<name>] tables", detail=source)
    unknown = set(purposes) - {p.value for p in Purpose}
    if unknown:
        raise ConfigError("the retention policy names unknown purposes", detail=", ".join(sorted(unknown)))
    missing = [p.value for p in Purpose if p.value not in purposes]
    if missing:
        raise ConfigError("the retention policy leaves purposes without a rule", detail=", ".join(missing))
    rules: dict[Purpose, PurposeRule] = {}
    for p in Purpose:
        rules[p] = _parse_rule(p, purposes[p.value], source)
    return Policy(rules, source)


RULE_KEYS = frozenset({"label", "rule", "months", "legal_basis", "erasable", "refusal", "archive_max_months"})


def _parse_rule(p: Purpose, t: Any, source: str) -> PurposeRule:
    where = f"{source}: purposes.{p.value}"
    if not isinstance(t, dict):
        raise ConfigError("each purpose needs a table", detail=where)
    try:
        rule = RuleKind(str(t.get("rule")))
        basis = LegalBasis(str(t.get("legal_basis")))
    except ValueError as e:
        raise ConfigError("invalid rule or legal_basis", detail=f"{where}: {e}") from e
    months = t.get("months", 0)
    archive = t.get("archive_max_months", 0)
    erasable = t.get("erasable", True)
    if not isinstance(erasable, bool):
        raise ConfigError("erasable must be true or false", detail=where)
    extra = set(t) - RULE_KEYS
    if extra:
        raise ConfigError("unknown keys in a purpose rule", detail=f"{where}: {', '.join(sorted(extra))}")
    if isinstance(archive, bool) or not isinstance(archive, int) or not 0 <= archive <= 1200:
        raise ConfigError("archive_max_months must be a whole number of months, 0..1200", detail=where)
    wants_proof = retention_class(p) is RetentionClass.PROOF
    if wants_proof != (rule is RuleKind.CONTRACT_YEARS):
        raise ConfigError(
            "transaction_proof (and only it) follows the contract_years rule",
            detail=f"{where}: rule {rule.value}",
        )
    if rule is RuleKind.AFTER_END_OF_SERVICE and (
        isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120
    ):
        raise ConfigError("months must be a whole number, 1..120", detail=where)
    if wants_proof and erasable:
        raise ConfigError(
            "proofs of transactions are kept under a legal retention: erasable must be false", detail=where
        )
    refusal = str(t.get("refusal") or f"legal retention under the rule '{p.value}'")
    return PurposeRule(
        purpose=p,
        label=str(t.get("label", p.value)),
        rule=rule,
        months=int(months) if rule is RuleKind.AFTER_END_OF_SERVICE else 0,
        legal_basis=basis,
        erasable=erasable,
        refusal=refusal,
        archive_max_months=archive,
    )
