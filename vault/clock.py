"""The vault's clock, injectable wherever retention or validity is decided.

Tests and drills set it with ``VAULT_CLOCK=2027-03-01T00:00:00Z`` (a fixed instant) or pass
a :class:`FixedClock`; production uses the system clock.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that stays where it is put (and can be moved)."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, delta: dt.timedelta) -> None:
        self.at += delta


def clock_from_env() -> Clock:
    value = os.environ.get("VAULT_CLOCK")
    if not value:
        return SystemClock()
    at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return FixedClock(at if at.tzinfo else at.replace(tzinfo=dt.UTC))
