"""Verification reports: each check says ok or why not; the exit code follows from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class Report:
    """``status`` is ``valid``, ``invalid``, ``pending`` (deposited, not yet sealed) or
    ``destroyed`` (content gone under a rule; the proof that it existed still verifies)."""

    item: str
    checks: list[Check] = field(default_factory=list)
    pending: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    destroyed_rule: str | None = None

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    @property
    def valid(self) -> bool:
        return not self.pending and self.destroyed_rule is None and bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def status(self) -> str:
        if self.destroyed_rule is not None and all(c.ok for c in self.checks):
            return "destroyed"  # even before its batch: the content is gone either way
        if self.pending and all(c.ok for c in self.checks):
            return "pending"
        return "valid" if self.valid else "invalid"

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def as_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "valid": self.valid,
            "status": self.status,
            "checks": [c.as_json() for c in self.checks],
            **({"rule": self.destroyed_rule} if self.destroyed_rule is not None else {}),
            **({"info": self.info} if self.info else {}),
        }

    @property
    def exit_code(self) -> int:
        """0 valid, 1 invalid or pending, 3 destroyed (and its proof of existence intact)."""
        if self.valid:
            return 0
        return 3 if self.status == "destroyed" else 1
