"""Checks shared by the import tests."""

from __future__ import annotations

import asyncpg

from services.operations.importer.report import ImportReport
from tests.operations.legacy_data import Expected

MEMORY_TABLES = (
    "memory.namespaces",
    "memory.projects",
    "memory.episodes",
    "memory.semantic_memories",
    "memory.working_memory",
    "memory.memory_blocks",
    "memory.memory_block_revisions",
    "memory.checkpoints",
    "memory.consciousness_states",
    "memory.embeddings_queue",
)


def assert_report_matches(report: ImportReport, expected: Expected, *, present: bool = False) -> None:
    """Per table: the counts, and exactly the expected skipped rows with their reasons."""
    skipped = {}
    for entry in report.log.entries("skipped"):
        assert entry.key not in skipped.get(entry.table, {}), f"{entry.table} {entry.key} skipped twice"
        skipped.setdefault(entry.table, {})[entry.key] = entry.text
    for table in report.tables:
        arrive = len(expected.arrive.get(table.source, []))
        skip = expected.skip.get(table.source, {})
        assert table.balanced, table
        assert (table.imported, table.present) == ((0, arrive) if present else (arrive, 0)), table
        assert table.skipped == len(skip), (table, skipped.get(table.source))
        assert set(skipped.get(table.source, {})) == set(skip), table.source
        for key, fragment in skip.items():
            assert fragment in skipped[table.source][key], (key, skipped[table.source][key])
    assert {table.source for table in report.tables} >= set(expected.arrive)


async def table_fingerprints(connection: asyncpg.Connection) -> dict[str, tuple[int, str]]:
    """(row count, md5 of every row in order) of each memory table: equal fingerprints, equal contents."""
    fingerprints = {}
    for table in MEMORY_TABLES:
        row = await connection.fetchrow(
            f"SELECT count(*) AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS digest"
            f" FROM {table} t"
        )
        fingerprints[table] = (row["n"], row["digest"])
    return fingerprints
