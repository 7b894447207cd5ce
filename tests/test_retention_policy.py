"""The retention policy as data (vault.retention.policy): the default table, parsing, refusals."""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from vault.errors import ConfigError
from vault.evidence.kinds import Purpose, RetentionClass
from vault.retention.policy import (
    LegalBasis,
    Policy,
    RuleKind,
    load_policy,
    parse_policy,
)

UTC = dt.UTC
RECEIVED = dt.datetime(2025, 3, 10, 14, 30, tzinfo=UTC)
OPERATIONAL = [p for p in Purpose if p is not Purpose.TRANSACTION_PROOF]

EXPECTED_BASIS = {
    Purpose.USE_SERVICE: LegalBasis.CONTRACT,
    Purpose.TRANSACTION_PROOF: LegalBasis.LEGAL_OBLIGATION,
    Purpose.INFORMATION_REQUEST: LegalBasis.CONTRACT,
    Purpose.REQUEST_HANDLING: LegalBasis.CONTRACT,
    Purpose.SUPPORT: LegalBasis.CONTRACT,
    Purpose.SERVICE_IMPROVEMENT: LegalBasis.LEGITIMATE_INTEREST,
    Purpose.PERSONALIZATION: LegalBasis.LEGITIMATE_INTEREST,
}

EXPECTED_ARCHIVE = {
    Purpose.USE_SERVICE: 60,
    Purpose.TRANSACTION_PROOF: 0,
    Purpose.INFORMATION_REQUEST: 60,
    Purpose.REQUEST_HANDLING: 60,
    Purpose.SUPPORT: 60,
    Purpose.SERVICE_IMPROVEMENT: 0,
    Purpose.PERSONALIZATION: 0,
}


def default_raw() -> dict[str, Any]:
    """The shipped default policy as parsed TOML, a fresh copy each time (to be altered)."""
    text = resources.files("vault.retention").joinpath("default_policy.toml").read_text("utf-8")
    return copy.deepcopy(tomllib.loads(text))


def refused(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        parse_policy(raw, "test.toml")
    return e.value


# -- the default policy ------------------------------------------------------------------------


def test_default_policy_covers_exactly_the_seven_purposes() -> None:
    policy = load_policy()
    assert set(policy.rules) == set(Purpose)
    assert len(policy.rules) == 7
    assert list(policy.rules) == list(Purpose)
    for p, rule in policy.rules.items():
        assert rule.purpose is p
        assert policy[p.value] is rule
    assert policy.source == "built-in default (seed table)"


@pytest.mark.parametrize("purpose", OPERATIONAL)
def test_default_operational_rules_are_12_months_after_end_of_service(purpose: Purpose) -> None:
    rule = load_policy()[purpose]
    assert rule.rule is RuleKind.AFTER_END_OF_SERVICE
    assert rule.months == 12
    assert rule.erasable is True
    assert rule.name == "12 months after end of service"
    assert rule.retention_class is RetentionClass.OPERATIONAL
    assert rule.refusal == f"legal retention under the rule '{purpose.value}'"


def test_default_transaction_proof_rule() -> None:
    rule = load_policy()["transaction_proof"]
    assert rule.rule is RuleKind.CONTRACT_YEARS
    assert rule.months == 0
    assert rule.erasable is False
    assert rule.name == "contract proof period (15-99 years after deposit)"
    assert rule.retention_class is RetentionClass.PROOF
    assert rule.legal_basis is LegalBasis.LEGAL_OBLIGATION
    assert rule.archive_max_months == 0
    assert rule.refusal.startswith("legal retention: proof of an electronic transaction")
    assert "GDPR art. 17(3)(b) and (e)" in rule.refusal
    assert rule.label == "Conserver les preuves de transactions électroniques (audit, contentieux)"


def test_default_rule_kinds_counted() -> None:
    kinds = [r.rule for r in load_policy().rules.values()]
    assert kinds.count(RuleKind.AFTER_END_OF_SERVICE) == 6
    assert kinds.count(RuleKind.CONTRACT_YEARS) == 1


def test_default_legal_bases() -> None:
    policy = load_policy()
    assert {p: r.legal_basis for p, r in policy.rules.items()} == EXPECTED_BASIS


def test_default_archive_limits() -> None:
    policy = load_policy()
    assert {p: r.archive_max_months for p, r in policy.rules.items()} == EXPECTED_ARCHIVE


def test_default_labels_are_the_seed_rows() -> None:
    policy = load_policy()
    assert policy["use_service"].label == "Vous permettre d'utiliser ce service"
    assert policy["support"].label == "Support technique, bon fonctionnement et sécurisation"
    assert policy["personalization"].label == "Offrir un contenu personnalisé"


def test_unknown_purpose_lookup_fails() -> None:
    with pytest.raises(ValueError):
        load_policy()["marketing"]


def test_default_policy_file_parses_to_the_same_policy() -> None:
    assert parse_policy(default_raw(), "x").rules == load_policy().rules


# -- refusals ----------------------------------------------------------------------------------


def test_refuses_unknown_purpose() -> None:
    raw = default_raw()
    raw["purposes"]["marketing"] = dict(raw["purposes"]["support"])
    e = refused(raw)
    assert "unknown purposes" in e.message
    assert e.detail == "marketing"


@pytest.mark.parametrize("purpose", list(Purpose))
def test_refuses_missing_purpose(purpose: Purpose) -> None:
    raw = default_raw()
    del raw["purposes"][purpose.value]
    e = refused(raw)
    assert "without a rule" in e.message
    assert e.detail == purpose.value


@pytest.mark.parametrize("raw", [{}, {"purposes": 3}, {"purposes": []}, {"purpose": {}}])
def test_refuses_policy_without_purposes_tables(raw: dict[str, Any]) -> None:
    e = refused(raw)
    assert "[purposes.<name>]" in e.message


def test_refuses_purpose_that_is_not_a_table() -> None:
    raw = default_raw()
    raw["purposes"]["support"] = "12 months"
    e = refused(raw)
    assert "needs a table" in e.message
    assert e.detail == "test.toml: purposes.support"


def test_refuses_transaction_proof_after_end_of_service() -> None:
    raw = default_raw()
    raw["purposes"]["transaction_proof"]["rule"] = "after_end_of_service"
    raw["purposes"]["transaction_proof"]["months"] = 12
    e = refused(raw)
    assert "transaction_proof (and only it)" in e.message
    assert e.detail == "test.toml: purposes.transaction_proof: rule after_end_of_service"


@pytest.mark.parametrize("purpose", OPERATIONAL)
def test_refuses_another_purpose_with_contract_years(purpose: Purpose) -> None:
    raw = default_raw()
    raw["purposes"][purpose.value]["rule"] = "contract_years"
    e = refused(raw)
    assert "transaction_proof (and only it)" in e.message
    assert e.detail == f"test.toml: purposes.{purpose.value}: rule contract_years"


@pytest.mark.parametrize("erasable", [True, None])
def test_refuses_erasable_transaction_proof(erasable: bool | None) -> None:
    raw = default_raw()
    if erasable is None:
        del raw["purposes"]["transaction_proof"]["erasable"]  # the default is erasable
    else:
        raw["purposes"]["transaction_proof"]["erasable"] = erasable
    e = refused(raw)
    assert "erasable must be false" in e.message


@pytest.mark.parametrize("erasable", ["no", 0, 1])
def test_refuses_non_boolean_erasable(erasable: object) -> None:
    raw = default_raw()
    raw["purposes"]["support"]["erasable"] = erasable
    e = refused(raw)
    assert "erasable must be true or false" in e.message


@pytest.mark.parametrize("months", [0, 121, -12, 12.0, "12", None])
def test_refuses_bad_months(months: object) -> None:
    raw = default_raw()
    raw["purposes"]["support"]["months"] = months
    e = refused(raw)
    assert "months must be a whole number, 1..120" in e.message
    assert e.detail == "test.toml: purposes.support"


@pytest.mark.parametrize("key", ["months", "archive_max_months"])
def test_refuses_boolean_month_counts(key: str) -> None:
    raw = default_raw()
    raw["purposes"]["support"][key] = True
    refused(raw)


def test_refuses_unknown_keys_in_a_rule() -> None:
    raw = default_raw()
    raw["purposes"]["support"]["archive_max_month"] = 60  # a typo must not silently mean "no archive"
    e = refused(raw)
    assert e.message == "unknown keys in a purpose rule"
    assert e.detail == "test.toml: purposes.support: archive_max_month"


def test_refuses_missing_months_for_after_end_of_service() -> None:
    raw = default_raw()
    del raw["purposes"]["support"]["months"]
    assert "months must be a whole number" in refused(raw).message


@pytest.mark.parametrize("months", [1, 120])
def test_accepts_months_at_the_bounds(months: int) -> None:
    raw = default_raw()
    raw["purposes"]["support"]["months"] = months
    assert parse_policy(raw)["support"].months == months


@pytest.mark.parametrize("archive", [-1, "x", 1201, 6.5, "60"])
def test_refuses_bad_archive_max_months(archive: object) -> None:
    raw = default_raw()
    raw["purposes"]["support"]["archive_max_months"] = archive
    e = refused(raw)
    assert "archive_max_months" in e.message
    assert e.detail == "test.toml: purposes.support"


@pytest.mark.parametrize("archive", [0, 1200])
def test_accepts_archive_max_months_at_the_bounds(archive: int) -> None:
    raw = default_raw()
    raw["purposes"]["support"]["archive_max_months"] = archive
    assert parse_policy(raw)["support"].archive_max_months == archive


@pytest.mark.parametrize("basis", ["vital_interest", "Contract", "", None])
def test_refuses_bad_legal_basis(basis: object) -> None:
    raw = default_raw()
    if basis is None:
        del raw["purposes"]["support"]["legal_basis"]
    else:
        raw["purposes"]["support"]["legal_basis"] = basis
    e = refused(raw)
    assert "invalid rule or legal_basis" in e.message
    assert e.detail is not None and e.detail.startswith("test.toml: purposes.support: ")


@pytest.mark.parametrize("rule", ["forever", "", None])
def test_refuses_bad_rule(rule: object) -> None:
    raw = default_raw()
    if rule is None:
        del raw["purposes"]["support"]["rule"]
    else:
        raw["purposes"]["support"]["rule"] = rule
    assert "invalid rule or legal_basis" in refused(raw).message


@pytest.mark.parametrize("basis", list(LegalBasis))
def test_accepts_every_legal_basis(basis: LegalBasis) -> None:
    raw = default_raw()
    raw["purposes"]["personalization"]["legal_basis"] = basis.value
    assert parse_policy(raw)["personalization"].legal_basis is basis


def test_optional_fields_default() -> None:
    raw = default_raw()
    raw["purposes"]["support"] = {"rule": "after_end_of_service", "months": 6, "legal_basis": "consent"}
    rule = parse_policy(raw)["support"]
    assert rule.label == "support"
    assert rule.erasable is True
    assert rule.archive_max_months == 0
    assert rule.refusal == "legal retention under the rule 'support'"
    assert rule.name == "6 months after end of service"


def test_months_of_a_contract_years_rule_are_ignored() -> None:
    raw = default_raw()
    raw["purposes"]["transaction_proof"]["months"] = 500
    assert parse_policy(raw)["transaction_proof"].months == 0


# -- files -------------------------------------------------------------------------------------


def test_load_policy_refuses_non_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("this is not = = toml\n[purposes\n", "utf-8")
    with pytest.raises(ConfigError) as e:
        load_policy(path)
    assert e.value.message == "the retention policy is not valid TOML"
    assert e.value.detail is not None and e.value.detail.startswith(str(path))


def test_load_policy_refuses_json_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"purposes": {}}', "utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_policy(path)


def test_load_policy_refuses_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigError):
        load_policy(path)


def test_load_policy_refuses_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as e:
        load_policy(path)
    assert e.value.message == "cannot read the retention policy"
    assert e.value.detail is not None and e.value.detail.startswith(f"{path}: ")


def test_load_policy_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the retention policy"):
        load_policy(tmp_path)


def test_load_policy_refuses_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("", "utf-8")
    with pytest.raises(ConfigError, match=r"\[purposes\.<name>\]"):
        load_policy(path)


def test_refusal_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    text = resources.files("vault.retention").joinpath("default_policy.toml").read_text("utf-8")
    path.write_text(text.replace("months = 12", "months = 0", 1), "utf-8")
    with pytest.raises(ConfigError) as e:
        load_policy(path)
    assert e.value.detail == f"{path}: purposes.use_service"


def test_custom_policy_file_changes_retain_until(tmp_path: Path) -> None:
    text = resources.files("vault.retention").joinpath("default_policy.toml").read_text("utf-8")
    head, sep, tail = text.partition("[purposes.support]")
    assert sep
    tail = tail.replace("months = 12", "months = 18", 1)
    path = tmp_path / "custom.toml"
    path.write_text(head + sep + tail, "utf-8")

    custom, default = load_policy(path), load_policy()
    assert custom.source == str(path)
    assert custom["support"].months == 18
    assert custom["support"].name == "18 months after end of service"
    ended = dt.date(2025, 6, 30)
    assert default["support"].retain_until(RECEIVED, proof_years=15, service_ended_on=ended) == dt.datetime(
        2026, 7, 1, tzinfo=UTC
    )
    assert custom["support"].retain_until(RECEIVED, proof_years=15, service_ended_on=ended) == dt.datetime(
        2027, 1, 1, tzinfo=UTC
    )
    assert custom["support"].committed_until(RECEIVED, proof_years=15, service_ended_on=None) == dt.datetime(
        2026, 9, 10, 14, 30, tzinfo=UTC
    )
    # only support changed
    for p in Purpose:
        if p is not Purpose.SUPPORT:
            assert custom[p] == default[p]


# -- as_json -----------------------------------------------------------------------------------


def test_as_json_shape() -> None:
    doc = load_policy().as_json()
    assert set(doc) == {"source", "purposes"}
    assert doc["source"] == "built-in default (seed table)"
    assert list(doc["purposes"]) == [p.value for p in Purpose]
    assert doc["purposes"]["support"] == {
        "label": "Support technique, bon fonctionnement et sécurisation",
        "rule": "after_end_of_service",
        "rule_name": "12 months after end of service",
        "months": 12,
        "legal_basis": "contract",
        "erasable": True,
        "archive_max_months": 60,
    }
    assert doc["purposes"]["service_improvement"] == {
        "label": "Améliorer nos services",
        "rule": "after_end_of_service",
        "rule_name": "12 months after end of service",
        "months": 12,
        "legal_basis": "legitimate_interest",
        "erasable": True,
        "archive_max_months": 0,
    }
    assert doc["purposes"]["transaction_proof"] == {
        "label": "Conserver les preuves de transactions électroniques (audit, contentieux)",
        "rule": "contract_years",
        "rule_name": "contract proof period (15-99 years after deposit)",
        "legal_basis": "legal_obligation",
        "erasable": False,
        "archive_max_months": 0,
    }


def test_as_json_is_plain_json() -> None:
    import json

    doc = load_policy().as_json()
    assert json.loads(json.dumps(doc)) == doc


def test_policy_is_frozen() -> None:
    policy = load_policy()
    with pytest.raises(AttributeError):
        policy.source = "x"  # type: ignore[misc]
    assert isinstance(policy, Policy)
