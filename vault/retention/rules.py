"""Calendar arithmetic and contract limits shared by the retention policy.

The rules themselves (which purpose is kept how long) are data: see
:mod:`vault.retention.policy` and ``default_policy.toml``.
"""

from __future__ import annotations

import calendar
import datetime as dt

from vault.errors import InputError

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
