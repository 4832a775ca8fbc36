"""Restore a backup into an empty database, then check it against the manifest table by table.

The dump's SHA-256 is checked before anything is written. The target must be empty (no table, view,
sequence, function or extension beyond plpgsql): restoring over live data would mix two states. Roles
the backup's privileges name are created without login where missing (`cerebro migrate` gives logins).
pg_restore runs as one transaction: a failure leaves the database as empty as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from services.operations.backup.inventory import TableState, schema_versions, table_states
from services.operations.backup.manifest import Manifest, ManifestError, file_sha256, read_manifest
from services.operations.backup.pg_tools import run_tool


class RestoreError(RuntimeError):
    """The restore was refused or failed."""


@dataclass(frozen=True)
class TableCheck:
    table: str
    expected: TableState | None
    restored: TableState | None

    @property
    def ok(self) -> bool:
        return self.expected == self.restored


@dataclass
class RestoreReport:
    manifest: Manifest
    created_roles: list[str]
    tables: list[TableCheck] = field(default_factory=list)
    schema_versions_match: bool = False

    @property
    def ok(self) -> bool:
        return self.schema_versions_match and all(check.ok for check in self.tables)


async def _objects_in(connection: asyncpg.Connection) -> list[str]:
    """What makes a database non-empty: user relations, functions, types, extensions and schemas."""
    rows = await connection.fetch(
        """SELECT format('%s %I.%I', 'relation', n.nspname, c.relname) AS object
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
           UNION ALL
           SELECT format('function %I.%I', n.nspname, p.proname) FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
           UNION ALL
           SELECT format('extension %I', extname) FROM pg_extension WHERE extname <> 'plpgsql'
           UNION ALL
           SELECT format('schema %I', nspname) FROM pg_namespace
           WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public')
             AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'
           ORDER BY 1"""
    )
    return [row["object"] for row in rows]


async def _create_missing_roles(connection: asyncpg.Connection, roles: list[str]) -> list[str]:
    existing = {row["rolname"] for row in await connection.fetch("SELECT rolname FROM pg_roles")}
    created = []
    for role in roles:
        if role in existing:
            continue
        # CREATE ROLE takes no parameters: format() quotes the name server-side.
        statement = await connection.fetchval("SELECT format('CREATE ROLE %I NOLOGIN', $1::text)", role)
        try:
            await connection.execute(statement)
        except asyncpg.DuplicateObjectError:
            continue  # created meanwhile by someone else
        created.append(role)
    return created


def _verified_manifest(directory: Path) -> Manifest:
    manifest = read_manifest(directory)
    dump = directory / manifest.dump_file
    if not dump.is_file():
        raise ManifestError(f"{dump} is missing")
    if file_sha256(dump) != manifest.dump_sha256:
        raise ManifestError(f"{dump} does not have the SHA-256 the manifest records: the backup is damaged")
    return manifest


async def restore_backup(dsn: str, directory: Path) -> RestoreReport:
    """Restore the backup in ``directory`` into the empty database at ``dsn`` and verify it."""
    manifest = _verified_manifest(directory)
    connection = await asyncpg.connect(dsn)
    try:
        objects = await _objects_in(connection)
        if objects:
            shown = ", ".join(objects[:5]) + (f" and {len(objects) - 5} more" if len(objects) > 5 else "")
            raise RestoreError(f"the target database is not empty ({shown}); restore only into an empty database")
        report = RestoreReport(manifest, await _create_missing_roles(connection, manifest.roles))
        await run_tool(
            "pg_restore",
            ["--exit-on-error", "--single-transaction", "--no-owner", str(directory / manifest.dump_file)],
            dsn,
        )
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            report.schema_versions_match = await schema_versions(connection) == manifest.schema_versions
            restored = await table_states(connection)
    finally:
        await connection.close()
    for table in sorted(set(manifest.tables) | set(restored)):
        report.tables.append(TableCheck(table, manifest.tables.get(table), restored.get(table)))
    return report
