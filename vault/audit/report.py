"""The audit's result: data (JSON for machines, lines for people); exit 1 on any problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: every kind of problem the audit reports, and what it means
KINDS: dict[str, str] = {
    "batch_missing": "a batch of the chain is not in the store (a gap in the sequence)",
    "batch_objects": "a batch's stored objects are missing, unreadable, or have more than one version",
    "batch_seal": "a batch's seal or time-stamp token does not verify",
    "batch_tree": "a batch's leaves do not hash to its root, or do not match its counts",
    "chain_broken": "a batch does not name the previous batch's root",
    "batch_row_missing": "a sealed batch has no row in the index",
    "batch_row_mismatch": "the index's batch row differs from the stored batch",
    "batch_row_extra": "the index has a batch row with no stored batch",
    "item_row_missing": "a sealed item (or one named by a sealed deposit entry) has no index row",
    "item_row_mismatch": "an index row differs from the evidence sealed for it",
    "item_not_in_batch": "an index row claims a batch whose leaves do not hold it",
    "item_unsealed_too_long": "an index row is not under any sealed leaf and not within the batch window",
    "segment_row_missing": "index rows point to a segment that has no row",
    "journal_row_missing": "a sealed journal entry has no index row (a journal gap)",
    "journal_row_mismatch": "a journal row differs from its sealed body",
    "journal_not_in_batch": "a journal row claims a batch whose leaves do not hold it",
    "journal_unsealed_too_long": "a journal entry is not sealed and not within the batch window",
}


@dataclass(frozen=True)
class Problem:
    kind: str
    id: str
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id, "detail": self.detail}


@dataclass
class AuditReport:
    tenant: str | None = None
    batches: int = 0
    sealed_items: int = 0
    sealed_entries: int = 0
    index_items: int = 0
    pending_items: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    def add(self, kind: str, id_: object, detail: str) -> None:
        assert kind in KINDS, kind
        self.problems.append(Problem(kind, str(id_), detail))

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def as_json(self) -> dict[str, Any]:
        by_kind: dict[str, int] = {}
        for p in self.problems:
            by_kind[p.kind] = by_kind.get(p.kind, 0) + 1
        return {
            "ok": self.ok,
            "scope": self.tenant or "platform",
            "batches": self.batches,
            "sealed_items": self.sealed_items,
            "sealed_journal_entries": self.sealed_entries,
            "index_items": self.index_items,
            "pending_items": self.pending_items,
            "seconds": round(self.seconds, 3),
            "problems_by_kind": by_kind,
            "problems": [p.as_json() for p in self.problems],
        }
