"""Retain-until dates (vault.retention.rules) and kinds/purposes (vault.evidence.kinds)."""

from __future__ import annotations

import datetime as dt

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
from vault.retention.rules import (
    MAX_PROOF_YEARS,
    MIN_PROOF_YEARS,
    add_months,
    check_proof_years,
    initial_retain_until,
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


# -- initial_retain_until --------------------------------------------------------------------

RECEIVED = at(2025, 3, 10, 14, 30)


@pytest.mark.parametrize(("years", "expected"), [(15, at(2040, 3, 10, 14, 30)), (99, at(2124, 3, 10, 14, 30))])
def test_proof_retention_is_received_plus_years(years: int, expected: dt.datetime) -> None:
    got = initial_retain_until(RetentionClass.PROOF, RECEIVED, proof_years=years, operational_months=12)
    assert got == expected


def test_proof_retention_ignores_operational_months_and_service_end() -> None:
    got = initial_retain_until(
        RetentionClass.PROOF,
        RECEIVED,
        proof_years=20,
        operational_months=1,
        service_ended_on=dt.date(2030, 1, 1),
    )
    assert got == at(2045, 3, 10, 14, 30)


def test_proof_retention_from_leap_day() -> None:
    got = initial_retain_until(RetentionClass.PROOF, at(2024, 2, 29, 9), proof_years=15, operational_months=12)
    assert got == at(2039, 2, 28, 9)


@pytest.mark.parametrize("years", [14, 100, 0])
def test_proof_retention_refuses_out_of_range_years(years: int) -> None:
    with pytest.raises(InputError):
        initial_retain_until(RetentionClass.PROOF, RECEIVED, proof_years=years, operational_months=12)


def test_operational_years_are_not_checked_against_proof_bounds() -> None:
    got = initial_retain_until(RetentionClass.OPERATIONAL, RECEIVED, proof_years=0, operational_months=12)
    assert got == at(2026, 3, 10, 14, 30)


def test_operational_retention_is_received_plus_months() -> None:
    got = initial_retain_until(RetentionClass.OPERATIONAL, RECEIVED, proof_years=15, operational_months=12)
    assert got == at(2026, 3, 10, 14, 30)
    got = initial_retain_until(RetentionClass.OPERATIONAL, RECEIVED, proof_years=15, operational_months=18)
    assert got == at(2026, 9, 10, 14, 30)


@pytest.mark.parametrize("ended", [dt.date(2020, 1, 1), dt.date(2025, 3, 8), dt.date(2025, 3, 9)])
def test_operational_with_service_ended_before_receipt_stays_at_least_received_plus_12(ended: dt.date) -> None:
    got = initial_retain_until(
        RetentionClass.OPERATIONAL, RECEIVED, proof_years=15, operational_months=12, service_ended_on=ended
    )
    assert got >= add_months(RECEIVED, 12)
    assert got == at(2026, 3, 10, 14, 30)


@pytest.mark.parametrize(
    ("ended", "expected"),
    [
        # the whole last day of service counts: the 12 months start at the end of that day
        (dt.date(2025, 3, 10), at(2026, 3, 11)),
        (dt.date(2025, 3, 11), at(2026, 3, 12)),
        (dt.date(2027, 1, 31), at(2028, 2, 1)),
        (dt.date(2027, 2, 28), at(2028, 3, 1)),
        (dt.date(2028, 2, 29), at(2029, 3, 1)),
    ],
)
def test_operational_with_later_service_end_counts_from_the_end(ended: dt.date, expected: dt.datetime) -> None:
    got = initial_retain_until(
        RetentionClass.OPERATIONAL, RECEIVED, proof_years=15, operational_months=12, service_ended_on=ended
    )
    assert got == expected
    assert got > add_months(RECEIVED, 12)
    assert got.utcoffset() == dt.timedelta(0)


# -- kinds and purposes ------------------------------------------------------------------------


def test_parse_kind_accepts_every_kind() -> None:
    for k in Kind:
        assert parse_kind(k.value) is k
    assert len(Kind) == 6


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
