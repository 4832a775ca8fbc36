"""Reading the old database: which known tables it has, and their rows in keyset-paginated batches.

Every read runs in one REPEATABLE READ, read-only transaction (opened by the caller), so counts and
pages come from one snapshot even while the old system keeps writing. Pages are
``WHERE key > $last ORDER BY key LIMIT n``: each is an index range scan, and rows inserted meanwhile
cannot shift a page the way OFFSET would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.operations.importer.legacy import LegacyTable, UnimportedTable


class SourceError(RuntimeError):
    """The old database does not have the expected shape."""


def quoted(identifier: str) -> str:
    """An identifier from the importer's allow-list, quoted for SQL."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class FoundTable:
    """A known old table present in the source, with the names of its columns."""

    spec: LegacyTable | UnimportedTable
    schema: str
    columns: frozenset[str]

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.spec.table}"

    @property
    def sql_name(self) -> str:
        return f"{quoted(self.schema)}.{quoted(self.spec.table)}"

    def source_column(self, name: str) -> str | None:
        """The source column read as ``name`` (a column of a LegacyTable), None if the table lacks it."""
        assert isinstance(self.spec, LegacyTable)
        column = next(column for column in self.spec.columns if column.name == name)
        return next((candidate for candidate in column.source_names if candidate in self.columns), None)


async def find_tables(
    connection: asyncpg.Connection, specs: Iterable[LegacyTable | UnimportedTable]
) -> list[FoundTable]:
    """The known tables the source has, in the order of ``specs``; raises if one lacks a required column."""
    found: list[FoundTable] = []
    for spec in specs:
        schemas = await connection.fetch(
            """SELECT table_schema FROM information_schema.tables
               WHERE table_name = $1 AND table_schema = ANY($2::text[]) AND table_type = 'BASE TABLE'
               ORDER BY table_schema""",
            spec.table,
            list(spec.schemas),
        )
        if len(schemas) > 1:
            places = ", ".join(f"{row['table_schema']}.{spec.table}" for row in schemas)
            raise SourceError(f"{spec.table} exists more than once ({places}); import from a database with one")
        if not schemas:
            continue
        schema = schemas[0]["table_schema"]
        columns = frozenset(
            row["column_name"]
            for row in await connection.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
                schema,
                spec.table,
            )
        )
        table = FoundTable(spec, schema, columns)
        if isinstance(spec, LegacyTable):
            missing = [
                " or ".join(column.source_names)
                for column in spec.columns
                if column.required and table.source_column(column.name) is None
            ]
            if missing:
                raise SourceError(f"{table.name} lacks the column(s) {', '.join(missing)}: not a known old shape")
        found.append(table)
    return found


async def count_rows(connection: asyncpg.Connection, table: FoundTable) -> int:
    return await connection.fetchval(f"SELECT count(*) FROM {table.sql_name}")


async def agent_ids(connection: asyncpg.Connection, table: FoundTable) -> list[str | None]:
    """The distinct owners of the rows of a table with an owner column."""
    assert isinstance(table.spec, LegacyTable) and table.spec.owner is not None
    column = table.source_column(table.spec.owner)
    assert column is not None
    rows = await connection.fetch(f"SELECT DISTINCT {quoted(column)} AS agent_id FROM {table.sql_name}")
    return [row["agent_id"] for row in rows]


def _select_list(table: FoundTable) -> str:
    assert isinstance(table.spec, LegacyTable)
    expressions = []
    for column in table.spec.columns:
        source = table.source_column(column.name)
        value = "NULL" if source is None else column.template.format(quoted(source))
        expressions.append(f"{value} AS {quoted(column.name)}")
    return ", ".join(expressions)


async def pages(
    connection: asyncpg.Connection, table: FoundTable, batch_size: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """The rows of ``table`` in key order, ``batch_size`` at a time; only one page is held at once."""
    assert isinstance(table.spec, LegacyTable)
    key = quoted(table.spec.key)
    # The keyset condition stays outside the row expressions, so a window column (the newest state)
    # is computed over the whole table; for plain columns the planner pushes it down to the index.
    rows_sql = f"SELECT * FROM (SELECT {_select_list(table)} FROM {table.sql_name}) AS rows"
    first_page = f"{rows_sql} ORDER BY {key} LIMIT $1"
    next_page = f"{rows_sql} WHERE {key} > $2 ORDER BY {key} LIMIT $1"
    page = await connection.fetch(first_page, batch_size)
    while page:
        yield [dict(row) for row in page]
        if len(page) < batch_size:
            return
        page = await connection.fetch(next_page, batch_size, page[-1][table.spec.key])
