"""The verification report of an import: per table, source rows = imported + already present + skipped."""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Literal

Kind = Literal["skipped", "note"]


@dataclass(frozen=True)
class RowEntry:
    table: str
    key: str
    kind: Kind
    text: str


class RowLog:
    """Skipped rows and notes, kept in a temporary file (spilled to disk past 1 MiB) until the report is
    printed: an import of millions of rows never holds them all in memory."""

    def __init__(self) -> None:
        # Owned by the log and closed by close(), not by a with block.
        self._file: IO[str] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=1 << 20, mode="w+", encoding="utf-8"
        )

    def add(self, table: str, key: str, kind: Kind, text: str) -> None:
        self._file.write(json.dumps([table, key, kind, text]) + "\n")

    def entries(self, kind: Kind) -> Iterator[RowEntry]:
        self._file.seek(0)
        try:
            for line in self._file:
                entry = RowEntry(*json.loads(line))
                if entry.kind == kind:
                    yield entry
        finally:
            self._file.seek(0, 2)  # later entries are appended

    def close(self) -> None:
        self._file.close()


@dataclass
class TableReport:
    source: str
    target: str
    source_rows: int
    imported: int = 0
    present: int = 0
    skipped: int = 0
    vectors_dropped: int = 0

    @property
    def balanced(self) -> bool:
        """Every source row is accounted for exactly once."""
        return self.imported + self.present + self.skipped == self.source_rows


@dataclass(frozen=True)
class UnimportedReport:
    source: str
    source_rows: int
    reason: str


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    namespaces: dict[str, str]
    created_namespaces: list[str] = field(default_factory=list)
    tables: list[TableReport] = field(default_factory=list)
    unimported: list[UnimportedReport] = field(default_factory=list)
    log: RowLog = field(default_factory=RowLog)

    @property
    def complete(self) -> bool:
        """Every row of every imported table is in Cerebro (imported now or before)."""
        return all(table.balanced and table.skipped == 0 for table in self.tables)

    def close(self) -> None:
        self.log.close()


def format_report(report: ImportReport) -> Iterator[str]:
    mode = "dry run: nothing was written; counts are what an import would do now" if report.dry_run else "done"
    yield f"Import from {report.source} ({mode})"
    yield ""
    yield "Agents and namespaces:"
    for agent_id, namespace in sorted(report.namespaces.items()):
        created = " (new namespace)" if namespace in report.created_namespaces else ""
        yield f"  {agent_id!r} -> {namespace}{created}"
    yield ""
    yield from _table_lines(report.tables)
    if any(table.vectors_dropped for table in report.tables):
        yield ""
        yield "Old vectors are never copied (another model or dimension, or of unknown version); every"
        yield "imported episode and semantic memory is queued for embedding with the current model."
    if report.unimported:
        yield ""
        yield "Not imported:"
        for unimported in report.unimported:
            count = "1 row" if unimported.source_rows == 1 else f"{unimported.source_rows} rows"
            yield f"  {unimported.source} ({count}): {unimported.reason}"
    sections: tuple[tuple[Kind, str], ...] = (("skipped", "Skipped rows"), ("note", "Notes"))
    for kind, title in sections:
        entries = report.log.entries(kind)
        first = next(entries, None)
        if first is None:
            continue
        yield ""
        yield f"{title}:"
        for entry in itertools.chain([first], entries):
            yield f"  {entry.table} {entry.key}: {entry.text}"


def _table_lines(tables: list[TableReport]) -> Iterator[str]:
    """The counts as a table: names left-aligned, numbers right-aligned; a MISMATCH line per unbalanced table."""
    headers = ("source table", "target table", "source", "imported", "present", "skipped", "vectors dropped")
    rows = [(t.source, t.target, t.source_rows, t.imported, t.present, t.skipped, t.vectors_dropped) for t in tables]
    cells = [tuple(str(value) for value in row) for row in (headers, *rows)]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    for row in cells:
        names = [value.ljust(width) for value, width in zip(row[:2], widths[:2], strict=True)]
        counts = [value.rjust(width) for value, width in zip(row[2:], widths[2:], strict=True)]
        yield "  " + "  ".join(names + counts)
    for table in tables:
        if not table.balanced:
            yield f"  MISMATCH {table.source}: imported + present + skipped != source rows"
