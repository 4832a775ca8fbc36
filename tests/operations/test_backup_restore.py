"""`cerebro backup` / `cerebro restore` against the real embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from cerebro.runtime.migrations import apply_migrations, load_migrations
from services.cli.migrate import COMPONENTS
from services.memory.db import MIGRATIONS_DIR as MEMORY_MIGRATIONS
from services.operations.backup.backup import BackupError, create_backup
from services.operations.backup.manifest import MANIFEST_FILE, ManifestError, file_sha256, read_manifest
from services.operations.backup.restore import RestoreError, restore_backup
from services.operations.importer.run import ImportOptions, run_import
from tests.memory.helpers import statistics_changes, statistics_drift
from tests.operations.legacy_data import fill_aria, fill_nexus
from tests.operations.support import table_fingerprints


async def _populated_cerebro(databases: Callable[[], Awaitable[str]]) -> str:
    """A Cerebro database with every component's schema and the memories of both old brains."""
    cerebro_url = await databases()
    for component, directory in COMPONENTS.items():
        await apply_migrations(cerebro_url, component, load_migrations(directory))
    for fill in (fill_nexus, fill_aria):
        source_url = await databases()
        source = await asyncpg.connect(source_url)
        try:
            await fill(source)
        finally:
            await source.close()
        (await run_import(source_url, cerebro_url, ImportOptions())).close()
    return cerebro_url


async def _fingerprints(url: str) -> dict[str, tuple[int, str]]:
    connection = await asyncpg.connect(url)
    try:
        return await table_fingerprints(connection)
    finally:
        await connection.close()


async def test_backup_then_restore_gives_identical_counts_and_checksums(
    databases: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    cerebro_url = await _populated_cerebro(databases)
    manifest = await create_backup(cerebro_url, tmp_path / "backup")
    assert read_manifest(tmp_path / "backup") == manifest
    assert manifest.dump_sha256 == file_sha256(tmp_path / "backup" / "cerebro.dump")
    assert manifest.schema_versions["memory"]["version"] == len(load_migrations(MEMORY_MIGRATIONS))
    assert manifest.schema_versions["memory"]["migrations"][0] == "0001_memory_schema"
    assert set(manifest.schema_versions) == set(COMPONENTS)
    assert {"cerebro_memory", "cerebro_memory_worker", "cerebro_memory_reader"} <= set(manifest.roles)
    assert manifest.tables["memory.episodes"].rows == 1005 + 305
    assert manifest.tables["public.cerebro_schema_migrations"].rows > 0

    target_url = await databases()
    report = await restore_backup(target_url, tmp_path / "backup")
    assert report.ok, report
    assert report.schema_versions_match and report.created_roles == []
    assert [check.table for check in report.tables] == sorted(manifest.tables)
    # An independent comparison of every memory row, beyond the manifest's checksums.
    assert await _fingerprints(target_url) == await _fingerprints(cerebro_url)
    # The text statistics arrive as they were (unfolded changes included) and describe the restored rows.
    for url in (cerebro_url, target_url):
        connection = await asyncpg.connect(url)
        try:
            assert await statistics_changes(connection) > 0
            assert await statistics_drift(connection) == []
        finally:
            await connection.close()


async def test_the_manifest_describes_the_dump_while_writes_go_on(
    databases: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    cerebro_url = await _populated_cerebro(databases)
    writer = await asyncpg.connect(cerebro_url)
    stop = asyncio.Event()

    async def keep_writing() -> int:
        written = 0
        while not stop.is_set():
            await writer.execute(
                "INSERT INTO memory.episodes (namespace, content) VALUES ('nexus', $1)",
                f"written during backup {written}",
            )
            written += 1
            await asyncio.sleep(0)
        return written

    writing = asyncio.create_task(keep_writing())
    try:
        manifest = await create_backup(cerebro_url, tmp_path / "backup")
    finally:
        stop.set()
        written = await writing
        await writer.close()
    assert written > 0
    report = await restore_backup(await databases(), tmp_path / "backup")
    assert report.ok, [check for check in report.tables if not check.ok]
    assert manifest.tables["memory.episodes"].rows < 1005 + 305 + written


async def test_restore_refuses_a_database_that_is_not_empty(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, tmp_path: Path
) -> None:
    await create_backup(cerebro_url, tmp_path / "backup")
    before = await _fingerprints(cerebro_url)
    with pytest.raises(RestoreError, match="not empty"):
        await restore_backup(cerebro_url, tmp_path / "backup")
    assert await _fingerprints(cerebro_url) == before

    other = await databases()
    connection = await asyncpg.connect(other)
    try:
        await connection.execute("CREATE TABLE public.leftover (id int)")
    finally:
        await connection.close()
    with pytest.raises(RestoreError, match=r"relation public\.leftover"):
        await restore_backup(other, tmp_path / "backup")


async def test_a_damaged_or_unfinished_backup_is_refused_before_writing(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, tmp_path: Path
) -> None:
    backup = tmp_path / "backup"
    await create_backup(cerebro_url, backup)
    target = await databases()
    dump = backup / "cerebro.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="damaged"):
        await restore_backup(target, backup)
    (backup / MANIFEST_FILE).unlink()
    with pytest.raises(ManifestError, match="not a finished backup"):
        await restore_backup(target, backup)
    connection = await asyncpg.connect(target)
    try:
        assert await connection.fetchval("SELECT to_regclass('memory.episodes')") is None
    finally:
        await connection.close()


async def test_backup_needs_an_empty_directory(cerebro_url: str, tmp_path: Path) -> None:
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "old.dump").write_text("x")
    with pytest.raises(BackupError, match="not empty"):
        await create_backup(cerebro_url, tmp_path / "backup")


async def test_restore_creates_the_roles_the_backup_grants_to(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, tmp_path: Path, postgres_url: str
) -> None:
    # A role this cluster lacks at restore time, as on a new server.
    role = f"ops_role_{secrets.token_hex(4)}"
    grant, revoke = f"GRANT SELECT ON memory.episodes TO {role}", f"REVOKE ALL ON memory.episodes FROM {role}"
    target = await databases()
    await _execute(postgres_url, f"CREATE ROLE {role} NOLOGIN")
    try:
        await _execute(cerebro_url, grant)
        await create_backup(cerebro_url, tmp_path / "backup")
        assert role in read_manifest(tmp_path / "backup").roles
        await _execute(cerebro_url, revoke)
        await _execute(postgres_url, f"DROP ROLE {role}")

        report = await restore_backup(target, tmp_path / "backup")
        assert report.ok and report.created_roles == [role]
        connection = await asyncpg.connect(target)
        try:
            assert await connection.fetchval("SELECT has_table_privilege($1, 'memory.episodes', 'SELECT')", role)
            assert not await connection.fetchval("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", role)
        finally:
            await connection.close()
    finally:
        for url in (cerebro_url, target):
            await _execute(
                url,
                f"DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN {revoke}; END IF; END $$",
            )
        await _execute(postgres_url, f"DROP ROLE IF EXISTS {role}")


async def _execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
