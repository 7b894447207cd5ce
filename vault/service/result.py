"""The frozen result every use case returns."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Protocol


class JsonResult(Protocol):
    def as_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Result:
    """A result that is just a document (a deep copy is handed out, so it cannot change)."""

    doc: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return copy.deepcopy(self.doc)
