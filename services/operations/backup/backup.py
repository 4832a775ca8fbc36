"""A consistent logical backup: pg_dump's custom format and a manifest taken from the very same snapshot.

One REPEATABLE READ transaction exports its snapshot; the row counts and checksums are computed in it,
and pg_dump runs with ``--snapshot`` on it, so the manifest describes exactly what the dump holds even
while the services keep writing.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from services.operations.backup.inventory import (
    CHECKSUM_METHOD,
    granted_roles,
    schema_versions,
    table_states,
)
from services.operations.backup.manifest import DUMP_FILE, MANIFEST_FILE, Manifest, file_sha256, write_durably
from services.operations.backup.pg_tools import run_tool, tool_version


class BackupError(RuntimeError):
    """The backup could not be made; nothing usable was left in the output directory."""


def _prepare_output(directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty; back up into a new directory")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


async def create_backup(dsn: str, directory: Path) -> Manifest:
    """Dump the database at ``dsn`` into ``directory`` (new or empty) and write its manifest."""
    _prepare_output(directory)
    dump = directory / DUMP_FILE
    partial = directory / (DUMP_FILE + ".partial")
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await connection.fetchval("SELECT pg_export_snapshot()")
            versions = await schema_versions(connection)
            tables = await table_states(connection)
            roles = await granted_roles(connection)
            database = await connection.fetchval("SELECT current_database()")
            server_version = await connection.fetchval("SHOW server_version")
            await run_tool("pg_dump", ["--format=custom", f"--snapshot={snapshot}", f"--file={partial}"], dsn)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        await connection.close()
    with partial.open("rb") as file:
        os.fsync(file.fileno())
    partial.rename(dump)
    manifest = Manifest(
        created_at=datetime.now(UTC).isoformat(),
        database=database,
        server_version=server_version,
        pg_dump_version=await tool_version("pg_dump"),
        schema_versions=versions,
        roles=roles,
        checksum_method=CHECKSUM_METHOD,
        dump_file=DUMP_FILE,
        dump_bytes=dump.stat().st_size,
        dump_sha256=file_sha256(dump),
        tables=tables,
    )
    write_durably(directory / MANIFEST_FILE, manifest.to_json())
    return manifest
