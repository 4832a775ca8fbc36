"""One import: detect the old tables, map agents to namespaces, stream every table in, account for every row.

Each batch is written in its own transaction, so an interrupted import keeps what it wrote and the next
run (which finds those rows present) carries on. ``dry_run`` runs exactly the same code inside one
transaction that is rolled back at the end: the counts are what an import would do, nothing is kept
(and no embedding is queued, no notification sent).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from services.operations.dsn import redact
from services.operations.importer import aria, nexus
from services.operations.importer.legacy import ImportContext, LegacyTable, UnimportedTable
from services.operations.importer.namespaces import NamespaceMapping, build_mapping
from services.operations.importer.report import ImportReport, TableReport, UnimportedReport
from services.operations.importer.rows import Converted, Skip
from services.operations.importer.source import FoundTable, SourceError, agent_ids, count_rows, find_tables, pages
from services.operations.progress import progress_bar

# Import order: projects before the episodes that refer to them.
KNOWN_TABLES: tuple[LegacyTable | UnimportedTable, ...] = (*nexus.TABLES, *aria.TABLES, *nexus.UNIMPORTED)


class TargetError(RuntimeError):
    """The Cerebro database is not ready for an import."""


@dataclass(frozen=True)
class ImportOptions:
    batch_size: int = 500
    dry_run: bool = False
    namespace_map: Mapping[str, str] = field(default_factory=dict)
    progress: bool = False


async def _connect_source(dsn: str) -> asyncpg.Connection:
    connection = await asyncpg.connect(dsn)
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    return connection


async def run_import(source_dsn: str, target_dsn: str, options: ImportOptions) -> ImportReport:
    """Import every known table of the database at ``source_dsn`` into the Cerebro database at ``target_dsn``."""
    source = await _connect_source(source_dsn)
    try:
        target = await asyncpg.connect(target_dsn)
        try:
            async with source.transaction(isolation="repeatable_read", readonly=True):
                return await _import(source, target, redact(source_dsn), options)
        finally:
            await target.close()
    finally:
        await source.close()


async def _import(
    source: asyncpg.Connection, target: asyncpg.Connection, source_name: str, options: ImportOptions
) -> ImportReport:
    found = await find_tables(source, KNOWN_TABLES)
    if not any(isinstance(table.spec, LegacyTable) for table in found):
        raise SourceError("no table of the ARIA v4 or NEXUS Letta/Zep shape found in the source database")
    if await target.fetchval("SELECT to_regclass('memory.episodes')") is None:
        raise TargetError("the Cerebro database has no memory schema yet; run `cerebro migrate` first")
    counts = {table.name: await count_rows(source, table) for table in found}
    mapping = build_mapping(await _agents(source, found, counts), options.namespace_map)
    report = ImportReport(source_name, options.dry_run, dict(mapping.namespaces))
    context = ImportContext(started_at=datetime.now(UTC))
    dry_run = target.transaction()
    if options.dry_run:
        await dry_run.start()
    try:
        async with target.transaction():
            report.created_namespaces = await _create_namespaces(target, mapping)
        for table in found:
            if isinstance(table.spec, UnimportedTable):
                report.unimported.append(UnimportedReport(table.name, counts[table.name], table.spec.reason))
            else:
                table_report = TableReport(table.name, table.spec.writer.table.name, counts[table.name])
                report.tables.append(table_report)
                await _import_table(source, target, table, mapping, context, options, report, table_report)
    except BaseException:
        report.close()
        raise
    finally:
        if options.dry_run:
            await dry_run.rollback()
    return report


async def _agents(source: asyncpg.Connection, found: list[FoundTable], counts: dict[str, int]) -> set[str]:
    """Every agent that owns rows; blank owners are left out (their rows are skipped)."""
    agents: set[str] = set()
    for table in found:
        if not isinstance(table.spec, LegacyTable) or counts[table.name] == 0:
            continue
        if table.spec.owner is None:
            agents.add(table.spec.default_agent)
        else:
            agents.update(agent for agent in await agent_ids(source, table) if agent is not None and agent.strip())
    return agents


async def _create_namespaces(target: asyncpg.Connection, mapping: NamespaceMapping) -> list[str]:
    display_names: dict[str, str] = {}
    for agent_id, namespace in sorted(mapping.namespaces.items()):
        display_names.setdefault(namespace, agent_id[:255])
    rows = await target.fetch(
        """INSERT INTO memory.namespaces (name, display_name)
           SELECT * FROM unnest($1::text[], $2::text[])
           ON CONFLICT (name) DO NOTHING
           RETURNING name""",
        list(display_names),
        list(display_names.values()),
    )
    return sorted(row["name"] for row in rows)


async def _import_table(
    source: asyncpg.Connection,
    target: asyncpg.Connection,
    table: FoundTable,
    mapping: NamespaceMapping,
    context: ImportContext,
    options: ImportOptions,
    report: ImportReport,
    table_report: TableReport,
) -> None:
    spec = table.spec
    assert isinstance(spec, LegacyTable)
    with progress_bar(table_report.source_rows, table.name, enabled=options.progress) as bar:
        async for page in pages(source, table, options.batch_size):
            converted: list[Converted] = []
            for row in page:
                table_report.vectors_dropped += bool(row.get("had_vector"))
                key = f"{spec.key}={row[spec.key]}"
                result = _convert(spec, row, mapping, context)
                if isinstance(result, Skip):
                    table_report.skipped += 1
                    report.log.add(table.name, key, "skipped", result.reason)
                else:
                    result.source_key = key
                    converted.append(result)
            if converted:
                async with target.transaction():
                    outcome = await spec.writer.write(target, converted)
                table_report.imported += outcome.inserted
                table_report.present += outcome.present
                table_report.skipped += len(outcome.skipped)
                for key, reason in outcome.skipped:
                    report.log.add(table.name, key, "skipped", reason)
                for key, note in outcome.notes:
                    report.log.add(table.name, key, "note", note)
            bar.update(len(page))


def _convert(
    spec: LegacyTable, row: dict[str, object], mapping: NamespaceMapping, context: ImportContext
) -> Converted | Skip:
    if spec.owner is None:
        agent_id: object = spec.default_agent
    else:
        agent_id = row[spec.owner]
        if not isinstance(agent_id, str) or not agent_id.strip():
            return Skip(f"empty {spec.owner}: the row belongs to no agent")
    return spec.convert(row, mapping.namespace_of(str(agent_id)), context)
