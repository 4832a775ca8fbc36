"""Imports refused before anything is written: unknown source shape, unprepared Cerebro database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from services.operations.importer.run import ImportOptions, TargetError, run_import
from services.operations.importer.source import SourceError
from tests.operations.legacy_schemas import ARIA_SCHEMA


async def _execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def test_a_source_with_no_known_table_is_refused(
    databases: Callable[[], Awaitable[str]], cerebro_url: str
) -> None:
    source = await databases()
    await _execute(source, "CREATE TABLE episodes (id int)")
    with pytest.raises(SourceError, match="no table of the ARIA v4 or NEXUS Letta/Zep shape"):
        await run_import(source, cerebro_url, ImportOptions())


async def test_a_table_without_a_required_column_is_refused(
    databases: Callable[[], Awaitable[str]], cerebro_url: str
) -> None:
    source = await databases()
    await _execute(source, ARIA_SCHEMA)
    await _execute(source, "ALTER TABLE memory_system.episodes DROP COLUMN action_details")
    with pytest.raises(SourceError, match=r"memory_system\.episodes lacks the column.s. action_details"):
        await run_import(source, cerebro_url, ImportOptions())


async def test_an_unmigrated_cerebro_database_is_refused(databases: Callable[[], Awaitable[str]]) -> None:
    source, target = await databases(), await databases()
    await _execute(source, ARIA_SCHEMA)
    with pytest.raises(TargetError, match="run `cerebro migrate` first"):
        await run_import(source, target, ImportOptions())
