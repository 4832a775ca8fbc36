"""What a conversion makes of one old row: a row for the memory schema, or the reason it is skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Converted:
    """``values`` are the target table's columns; ``target_id`` is its key (what re-imports conflict on).
    ``source_key`` names the old row in the report (``key=value``); the importer fills it in."""

    target_id: Any
    values: dict[str, Any]
    source_key: str = ""


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass
class BatchOutcome:
    """What writing one batch did: rows inserted, rows already there, rows skipped and notes, with their keys."""

    inserted: int = 0
    present: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
