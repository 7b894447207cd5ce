"""Calendar arithmetic (vault.retention.rules), retain-until dates under the default policy
(vault.retention.policy) and kinds/purposes (vault.evidence.kinds)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from vault.errors import InputError
from vault.evidence.kinds import (
    DEFAULT_PURPOSE,
    Kind,
    Purpose,
    RetentionClass,
    parse_kind,
    parse_purpose,
    retention_class,
)
from vault.retention.policy import Policy, end_of_day, load_policy
from vault.retention.rules import (
    MAX_PROOF_YEARS,
    MIN_PROOF_YEARS,
    add_months,
    check_proof_years,
)

UTC = dt.UTC


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=UTC)


# -- add_months --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (at(2023, 1, 31), 1, at(2023, 2, 28)),
        (at(2024, 1, 31), 1, at(2024, 2, 29)),  # leap year
        (at(2100, 1, 31), 1, at(2100, 2, 28)),  # not a leap year (century)
        (at(2000, 1, 31), 1, at(2000, 2, 29)),  # leap year (400)
        (at(2024, 3, 31), 1, at(2024, 4, 30)),
        (at(2024, 1, 30), 1, at(2024, 2, 29)),
        (at(2024, 1, 28), 1, at(2024, 2, 28)),
        (at(2024, 2, 29), 12, at(2025, 2, 28)),
        (at(2024, 2, 29), 48, at(2028, 2, 29)),
        (at(2024, 8, 31), 6, at(2025, 2, 28)),
        (at(2024, 11, 15), 1, at(2024, 12, 15)),
        (at(2024, 12, 15), 1, at(2025, 1, 15)),  # year rollover
        (at(2024, 12, 31), 2, at(2025, 2, 28)),
        (at(2024, 7, 4), 12, at(2025, 7, 4)),
        (at(2024, 7, 4), 0, at(2024, 7, 4)),
        (at(2024, 5, 17), 25, at(2026, 6, 17)),
        (at(2024, 2, 29), 12 * 99, at(2123, 2, 28)),
        (at(2025, 6, 30), 12 * 99, at(2124, 6, 30)),
        (at(2025, 1, 31), 12 * 99 + 1, at(2124, 2, 29)),
        (at(2025, 3, 31), -1, at(2025, 2, 28)),
        (at(2025, 1, 15), -1, at(2024, 12, 15)),
    ],
)
def test_add_months(start: dt.datetime, months: int, expected: dt.datetime) -> None:
    assert add_months(start, months) == expected


def test_add_months_keeps_time_and_timezone() -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    start = dt.datetime(2024, 1, 31, 23, 59, 58, 123456, tzinfo=paris)
    got = add_months(start, 1)
    assert got == dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=paris)
    assert got.tzinfo is paris


def test_add_months_every_month_of_a_year_matches_a_simple_model() -> None:
    import calendar

    for year in (2023, 2024):
        for month in range(1, 13):
            for day in (1, 15, 28, 29, 30, 31):
                if day > calendar.monthrange(year, month)[1]:
                    continue
                start = at(year, month, day)
                for k in range(0, 40):
                    got = add_months(start, k)
                    y, m = year + (month - 1 + k) // 12, (month - 1 + k) % 12 + 1
                    assert (got.year, got.month) == (y, m)
                    assert got.day == min(day, calendar.monthrange(y, m)[1])
                    assert got >= start


# -- proof years -------------------------------------------------------------------------------


@pytest.mark.parametrize("years", [15, 16, 50, 98, 99])
def test_check_proof_years_accepts(years: int) -> None:
    assert check_proof_years(years) == years


@pytest.mark.parametrize("years", [-15, 0, 1, 14, 100, 1000])
def test_check_proof_years_refuses(years: int) -> None:
    with pytest.raises(InputError) as e:
        check_proof_years(years)
    assert str(years) in str(e.value)


def test_bounds_constants() -> None:
    assert (MIN_PROOF_YEARS, MAX_PROOF_YEARS) == (15, 99)


# -- retain-until dates under the default policy (ports of initial_retain_until) ---------------

RECEIVED = at(2025, 3, 10, 14, 30)
OPERATIONAL = [p for p in Purpose if p is not Purpose.TRANSACTION_PROOF]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


@pytest.mark.parametrize(("years", "expected"), [(15, at(2040, 3, 10, 14, 30)), (99, at(2124, 3, 10, 14, 30))])
def test_proof_retention_is_received_plus_years(policy: Policy, years: int, expected: dt.datetime) -> None:
    rule = policy["transaction_proof"]
    assert rule.retain_until(RECEIVED, proof_years=years, service_ended_on=None) == expected
    assert rule.committed_until(RECEIVED, proof_years=years, service_ended_on=None) == expected


def test_proof_retention_ignores_service_end(policy: Policy) -> None:
    rule = policy["transaction_proof"]
    for ended in (None, dt.date(2020, 1, 1), dt.date(2030, 1, 1)):
        assert rule.retain_until(RECEIVED, proof_years=20, service_ended_on=ended) == at(2045, 3, 10, 14, 30)
        assert rule.committed_until(RECEIVED, proof_years=20, service_ended_on=ended) == at(2045, 3, 10, 14, 30)


def test_proof_retention_from_leap_day(policy: Policy) -> None:
    got = policy["transaction_proof"].retain_until(at(2024, 2, 29, 9), proof_years=15, service_ended_on=None)
    assert got == at(2039, 2, 28, 9)


@pytest.mark.parametrize("years", [14, 100, 0])
def test_proof_retention_refuses_out_of_range_years(policy: Policy, years: int) -> None:
    rule = policy["transaction_proof"]
    with pytest.raises(InputError):
        rule.retain_until(RECEIVED, proof_years=years, service_ended_on=None)
    with pytest.raises(InputError):
        rule.committed_until(RECEIVED, proof_years=years, service_ended_on=None)


@pytest.mark.parametrize("purpose", OPERATIONAL)
def test_operational_years_are_not_checked_against_proof_bounds(policy: Policy, purpose: Purpose) -> None:
    rule = policy[purpose]
    assert rule.committed_until(RECEIVED, proof_years=0, service_ended_on=None) == at(2026, 3, 10, 14, 30)
    got = rule.retain_until(RECEIVED, proof_years=0, service_ended_on=dt.date(2025, 6, 30))
    assert got == at(2026, 7, 1)


@pytest.mark.parametrize("purpose", OPERATIONAL)
def test_operational_retention_is_unknown_while_the_service_goes_on(policy: Policy, purpose: Purpose) -> None:
    rule = policy[purpose]
    assert rule.retain_until(RECEIVED, proof_years=15, service_ended_on=None) is None
    # what is committed (and locked) meanwhile: the lower bound received + 12 months
    assert rule.committed_until(RECEIVED, proof_years=15, service_ended_on=None) == at(2026, 3, 10, 14, 30)


def test_operational_lower_bound_follows_the_rule_months(policy: Policy) -> None:
    rule = replace(policy["support"], months=18)
    assert rule.retain_until(RECEIVED, proof_years=15, service_ended_on=None) is None
    assert rule.committed_until(RECEIVED, proof_years=15, service_ended_on=None) == at(2026, 9, 10, 14, 30)
    got = rule.retain_until(RECEIVED, proof_years=15, service_ended_on=dt.date(2025, 3, 10))
    assert got == at(2026, 9, 11)


def test_operational_lower_bound_from_month_end(policy: Policy) -> None:
    rule = policy["support"]
    assert rule.committed_until(at(2024, 2, 29, 8), proof_years=15, service_ended_on=None) == at(2025, 2, 28, 8)
    assert rule.committed_until(at(2025, 1, 31, 8), proof_years=15, service_ended_on=None) == at(2026, 1, 31, 8)


@pytest.mark.parametrize("ended", [dt.date(2020, 1, 1), dt.date(2025, 3, 8), dt.date(2025, 3, 9)])
def test_operational_with_service_ended_before_receipt_stays_at_received_plus_12(
    policy: Policy, ended: dt.date
) -> None:
    rule = policy["support"]
    got = rule.retain_until(RECEIVED, proof_years=15, service_ended_on=ended)
    assert got == at(2026, 3, 10, 14, 30)
    assert rule.committed_until(RECEIVED, proof_years=15, service_ended_on=ended) == got


@pytest.mark.parametrize(
    ("ended", "expected"),
    [
        # the whole last day of service counts: the 12 months start at the end of that day
        (dt.date(2025, 3, 10), at(2026, 3, 11)),
        (dt.date(2025, 3, 11), at(2026, 3, 12)),
        (dt.date(2027, 1, 31), at(2028, 2, 1)),
        (dt.date(2027, 2, 28), at(2028, 3, 1)),
        (dt.date(2028, 2, 29), at(2029, 3, 1)),
        (dt.date(2025, 12, 31), at(2027, 1, 1)),
    ],
)
def test_operational_with_later_service_end_counts_from_the_end(
    policy: Policy, ended: dt.date, expected: dt.datetime
) -> None:
    rule = policy["use_service"]
    got = rule.retain_until(RECEIVED, proof_years=15, service_ended_on=ended)
    assert got == expected
    assert got > add_months(RECEIVED, 12)
    assert got.utcoffset() == dt.timedelta(0)
    assert rule.committed_until(RECEIVED, proof_years=15, service_ended_on=ended) == expected


def test_service_ending_on_the_day_of_receipt_late_in_the_day_in_another_zone(policy: Policy) -> None:
    # 23:30 at UTC+1 is 22:30 UTC, before the end of 10 March (UTC): the clock starts at midnight
    paris = dt.timezone(dt.timedelta(hours=1))
    received = dt.datetime(2025, 3, 10, 23, 30, tzinfo=paris)
    got = policy["support"].retain_until(received, proof_years=15, service_ended_on=dt.date(2025, 3, 10))
    assert got == at(2026, 3, 11)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2025, 3, 10), at(2025, 3, 11)),
        (dt.date(2025, 12, 31), at(2026, 1, 1)),
        (dt.date(2024, 2, 28), at(2024, 2, 29)),
        (dt.date(2024, 2, 29), at(2024, 3, 1)),
    ],
)
def test_end_of_day_is_utc_midnight_of_the_next_day(day: dt.date, expected: dt.datetime) -> None:
    got = end_of_day(day)
    assert got == expected
    assert got.tzinfo is dt.UTC


# -- kinds and purposes ------------------------------------------------------------------------


def test_parse_kind_accepts_every_kind() -> None:
    for k in Kind:
        assert parse_kind(k.value) is k
    assert len(Kind) == 7


@pytest.mark.parametrize("value", ["", "Session_Log", "session-log", "video", " request"])
def test_parse_kind_error_lists_allowed_values(value: str) -> None:
    with pytest.raises(InputError) as e:
        parse_kind(value)
    text = str(e.value)
    assert repr(value) in text
    for k in Kind:
        assert k.value in text


@pytest.mark.parametrize("value", ["", "marketing", "Support", "use-service"])
def test_parse_purpose_error_lists_allowed_values(value: str) -> None:
    with pytest.raises(InputError) as e:
        parse_purpose(value, Kind.SESSION_LOG)
    text = str(e.value)
    assert repr(value) in text
    for p in Purpose:
        assert p.value in text


@pytest.mark.parametrize("purpose", [p for p in Purpose if p is not Purpose.TRANSACTION_PROOF])
def test_transaction_proof_kind_with_another_purpose_refused(purpose: Purpose) -> None:
    with pytest.raises(InputError):
        parse_purpose(purpose.value, Kind.TRANSACTION_PROOF)


def test_transaction_proof_kind_with_its_purpose_accepted() -> None:
    assert parse_purpose("transaction_proof", Kind.TRANSACTION_PROOF) is Purpose.TRANSACTION_PROOF
    assert parse_purpose(None, Kind.TRANSACTION_PROOF) is Purpose.TRANSACTION_PROOF


@pytest.mark.parametrize("kind", [k for k in Kind if k is not Kind.TRANSACTION_PROOF])
def test_other_kinds_accept_any_purpose(kind: Kind) -> None:
    for p in Purpose:
        assert parse_purpose(p.value, kind) is p


def test_default_purposes() -> None:
    expected = {
        Kind.SESSION_LOG: Purpose.SUPPORT,
        Kind.SESSION_RECORDING: Purpose.SUPPORT,
        Kind.SIGNED_DOCUMENT: Purpose.TRANSACTION_PROOF,
        Kind.CONNECTION_METADATA: Purpose.SUPPORT,
        Kind.TRANSACTION_PROOF: Purpose.TRANSACTION_PROOF,
        Kind.REQUEST: Purpose.REQUEST_HANDLING,
        Kind.CORRECTION: Purpose.REQUEST_HANDLING,
    }
    assert expected == DEFAULT_PURPOSE
    for kind, purpose in expected.items():
        assert parse_purpose(None, kind) is purpose


def test_retention_class_for_all_seven_purposes() -> None:
    expected = {
        Purpose.USE_SERVICE: RetentionClass.OPERATIONAL,
        Purpose.TRANSACTION_PROOF: RetentionClass.PROOF,
        Purpose.INFORMATION_REQUEST: RetentionClass.OPERATIONAL,
        Purpose.REQUEST_HANDLING: RetentionClass.OPERATIONAL,
        Purpose.SUPPORT: RetentionClass.OPERATIONAL,
        Purpose.SERVICE_IMPROVEMENT: RetentionClass.OPERATIONAL,
        Purpose.PERSONALIZATION: RetentionClass.OPERATIONAL,
    }
    assert set(Purpose) == set(expected)
    assert len(Purpose) == 7
    for purpose, cls in expected.items():
        assert retention_class(purpose) is cls
