"""What a litigation export covers and discloses: checked before anything is read or written."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from vault.errors import InputError
from vault.evidence.manifest import iso

#: a committed field's name as the vault writes them (``ip``, ``user``, ``device_id``, ``subject``)
FIELD_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_LISTED = 10_000  # ids or sessions named one by one


def _text(value: str, what: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= limit or not value.isprintable():
        raise InputError(f"{what} must be 1 to {limit} printable characters", detail=repr(value)[:80])
    return value


@dataclass(frozen=True)
class Selection:
    """Items of one tenant: those of ``sessions``, ``items`` and the holds of case ``hold``
    (their union), within ``since``..``until`` (received); with no session, item or hold,
    every item received in that period. ``disclose`` names the personal fields whose values
    are revealed; every other field stays a salted digest."""

    tenant: str
    case: str
    sessions: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    hold: str | None = None
    disclose: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        _text(self.tenant, "the tenant", 64)
        _text(self.case, "the case reference")
        if self.hold is not None:
            _text(self.hold, "the hold's case reference")
        if len(self.sessions) > MAX_LISTED or len(self.items) > MAX_LISTED:
            raise InputError(f"name at most {MAX_LISTED} sessions or items; select by period or hold instead")
        for s in self.sessions:
            _text(s, "a session id")
        for i in self.items:
            _text(i, "an item id", 40)
        for f in self.disclose:
            if not isinstance(f, str) or not FIELD_RE.match(f):
                raise InputError("a disclosed field is a name such as ip or user", detail=repr(f)[:80])
        for at, what in ((self.since, "--from"), (self.until, "--to")):
            if at is not None and at.tzinfo is None:
                raise InputError(f"{what} needs a time zone")
        if self.since and self.until and self.since > self.until:
            raise InputError("--from is after --to")
        if not (self.sessions or self.items or self.hold or self.since or self.until):
            raise InputError("select what to export: --session, --item, --hold, or a period (--from/--to)")
        object.__setattr__(self, "disclose", tuple(sorted(set(self.disclose))))

    def as_json(self) -> dict[str, Any]:
        return {
            "sessions": sorted(self.sessions),
            "items": sorted(self.items),
            "from": iso(self.since) if self.since else None,
            "to": iso(self.until) if self.until else None,
            "hold": self.hold,
        }


def parse_period(value: str | None, what: str, *, end: bool = False) -> dt.datetime | None:
    """``2026-11-01`` (a whole day: its start, or with ``end`` its last instant) or an ISO
    time with a zone; UTC when none is given."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            at = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            return at + dt.timedelta(days=1, microseconds=-1) if end else at
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what} is not a date (YYYY-MM-DD) or an ISO 8601 time", detail=value[:60]) from None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)
