"""Retain-until dates at deposit time.

``proof`` items are locked for the tenant's contractual proof period (15..99 years).
``operational`` items must be kept 12 months after the *end of service*, which is not known
when they arrive; since the service cannot end before an item arrives, ``received + 12
months`` is a lower bound of the true date, so it is safe to lock to it now and extend the
lock when the end of service is recorded (COMPLIANCE locks can be extended, never shortened).
"""

from __future__ import annotations

import calendar
import datetime as dt

from vault.errors import InputError
from vault.evidence.kinds import RetentionClass

MIN_PROOF_YEARS = 15
MAX_PROOF_YEARS = 99


def add_months(at: dt.datetime, months: int) -> dt.datetime:
    """Calendar months; the 31st becomes the last day of a shorter month."""
    month0 = at.month - 1 + months
    year, month = at.year + month0 // 12, month0 % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def check_proof_years(years: int) -> int:
    if not MIN_PROOF_YEARS <= years <= MAX_PROOF_YEARS:
        raise InputError("proof retention must be between 15 and 99 years", detail=f"got {years}")
    return years


def initial_retain_until(
    cls: RetentionClass,
    received_at: dt.datetime,
    *,
    proof_years: int,
    operational_months: int,
    service_ended_on: dt.date | None = None,
) -> dt.datetime:
    if cls is RetentionClass.PROOF:
        return add_months(received_at, 12 * check_proof_years(proof_years))
    start = received_at
    if service_ended_on is not None:
        # the whole last day of service counts: the clock starts at the end of that day
        ended = dt.datetime.combine(service_ended_on + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        start = max(start, ended)
    return add_months(start, operational_months)
