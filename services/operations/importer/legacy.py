"""How an old table is described: where it may live, its columns, its key, and what it becomes.

These descriptions are the allow-list of every identifier the importer puts in SQL: schema, table and
column names come from here, never from the source's catalog or the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.operations.importer.rows import Converted, Skip
from services.operations.importer.target import Writer


@dataclass(frozen=True)
class SourceColumn:
    """A value read from each row as ``name``: the first of ``candidates`` the table has, wrapped in
    ``template`` (SQL with one ``{}``). A missing optional column reads as NULL."""

    name: str
    candidates: tuple[str, ...] = ()
    required: bool = True
    template: str = "{}"

    @property
    def source_names(self) -> tuple[str, ...]:
        return self.candidates or (self.name,)


@dataclass(frozen=True)
class ImportContext:
    """What conversions share: the moment the import started (expiry checks, missing creation times)."""

    started_at: datetime


class Converter(Protocol):
    def __call__(self, row: Mapping[str, Any], namespace: str, context: ImportContext) -> Converted | Skip: ...


@dataclass(frozen=True)
class LegacyTable:
    """An old table that is imported. Rows belong to the agent in ``owner`` (a column name), or to
    ``default_agent`` when the table has no such column."""

    system: str
    schemas: tuple[str, ...]
    table: str
    key: str
    columns: tuple[SourceColumn, ...]
    writer: Writer
    convert: Converter
    default_agent: str
    owner: str | None = None


@dataclass(frozen=True)
class UnimportedTable:
    """An old table that is recognised but deliberately not imported; the report says why."""

    system: str
    schemas: tuple[str, ...]
    table: str
    reason: str


def imported_from(system: str, table: str, source_id: Any, original: Mapping[str, Any]) -> dict[str, Any]:
    """The ``imported_from`` marker of a row's metadata; an old marker of that name is kept under ``earlier``."""
    marker: dict[str, Any] = {"system": system, "table": table, "id": source_id}
    if "imported_from" in original:
        marker["earlier"] = original["imported_from"]
    return marker


# Vectors are never copied: only whether a row had one is read, for the report.
HAD_VECTOR = SourceColumn("had_vector", ("embedding",), required=False, template="({} IS NOT NULL)")
