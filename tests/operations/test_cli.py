"""The operations commands as an operator runs them: exit codes, reports, and no password ever printed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from cerebro.runtime.migrations import load_migrations
from services.memory.db import MIGRATIONS_DIR as MEMORY_MIGRATIONS
from tests.operations.legacy_data import fill_nexus

ROOT = Path(__file__).resolve().parents[2]


def _cerebro(*arguments: str, database_url_file: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CEREBRO_")}
    environment["CEREBRO_DATABASE_URL_FILE"] = str(database_url_file)
    return subprocess.run(
        [sys.executable, "-m", "cerebro", *arguments],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _secret_file(directory: Path, name: str, value: str) -> Path:
    path = directory / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def _assert_no_password(result: subprocess.CompletedProcess[str], url: str) -> None:
    password = urlsplit(url).password
    assert password and password not in result.stdout and password not in result.stderr


async def _nexus_source(databases: Callable[[], Awaitable[str]]) -> str:
    url = await databases()
    connection = await asyncpg.connect(url)
    try:
        await fill_nexus(connection, bulk_episodes=50)
    finally:
        await connection.close()
    return url


async def test_import_from_a_secret_file(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, tmp_path: Path
) -> None:
    source_url = await _nexus_source(databases)
    cerebro_file = _secret_file(tmp_path, "cerebro-url", cerebro_url)
    source_file = _secret_file(tmp_path, "source-url", source_url)

    dry = await asyncio.to_thread(_cerebro, "import", "--from-file", str(source_file), "--dry-run",
                                  database_url_file=cerebro_file)  # fmt: skip
    assert dry.returncode == 3, dry.stderr  # the source has rows that must be skipped
    assert "dry run: nothing was written" in dry.stdout
    real = await asyncio.to_thread(_cerebro, "import", "--from-file", str(source_file), "--batch-size", "10",
                                   database_url_file=cerebro_file)  # fmt: skip
    assert real.returncode == 3, real.stderr
    assert real.stderr == ""  # not a terminal: no progress bar
    assert "public.zep_episodic_memory" in real.stdout and "Skipped rows:" in real.stdout
    for result in (dry, real):
        _assert_no_password(result, source_url)
        _assert_no_password(result, cerebro_url)
    assert f"Import from {urlsplit(source_url).scheme}://postgres@" in real.stdout

    first_counts = _counts(real.stdout, "public.zep_episodic_memory")
    assert first_counts == {"source": 57, "imported": 55, "present": 0, "skipped": 2, "vectors dropped": 5}
    again = await asyncio.to_thread(_cerebro, "import", "--from", source_url, database_url_file=cerebro_file)
    assert again.returncode == 3
    assert _counts(again.stdout, "public.zep_episodic_memory") == {**first_counts, "imported": 0, "present": 55}


def _counts(report: str, table: str) -> dict[str, int]:
    """The numbers of ``table``'s line in the report's table."""
    line = next(line for line in report.splitlines() if line.strip().startswith(table + " "))
    numbers = [int(value) for value in line.split()[2:]]
    return dict(zip(("source", "imported", "present", "skipped", "vectors dropped"), numbers, strict=True))


async def test_import_errors_name_no_password(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, tmp_path: Path
) -> None:
    source_url = await _nexus_source(databases)
    cerebro_file = _secret_file(tmp_path, "cerebro-url", cerebro_url)
    parts = urlsplit(source_url)
    wrong = parts._replace(netloc=f"postgres:not-the-password-{os.getpid()}@{parts.hostname}:{parts.port}").geturl()
    refused = await asyncio.to_thread(_cerebro, "import", "--from", wrong, database_url_file=cerebro_file)
    assert refused.returncode == 1
    assert "password authentication failed" in refused.stderr
    assert f"not-the-password-{os.getpid()}" not in refused.stderr + refused.stdout
    _assert_no_password(refused, cerebro_url)

    bad_map = await asyncio.to_thread(
        _cerebro, "import", "--from", source_url, "--namespace-map", "nexus=Not Valid", database_url_file=cerebro_file
    )
    assert bad_map.returncode == 2 and "is not a namespace name" in bad_map.stderr
    not_a_url = await asyncio.to_thread(
        _cerebro, "import", "--from-file", str(_secret_file(tmp_path, "bad", "host=x password=s3cret")),
        database_url_file=cerebro_file,
    )  # fmt: skip
    assert not_a_url.returncode == 2 and "s3cret" not in not_a_url.stderr


async def test_backup_and_restore_commands(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, tmp_path: Path
) -> None:
    cerebro_file = _secret_file(tmp_path, "cerebro-url", cerebro_url)
    backup = await asyncio.to_thread(
        _cerebro, "backup", "--output", str(tmp_path / "b"), database_url_file=cerebro_file
    )
    assert backup.returncode == 0, backup.stderr
    assert f"schema versions: memory {len(load_migrations(MEMORY_MIGRATIONS))}" in backup.stdout

    target_file = _secret_file(tmp_path, "target-url", await databases())
    restore = await asyncio.to_thread(
        _cerebro, "restore", "--input", str(tmp_path / "b"), database_url_file=target_file
    )
    assert restore.returncode == 0, restore.stderr
    assert "verified: identical to the backup" in restore.stdout
    assert "MISMATCH" not in restore.stdout

    again = await asyncio.to_thread(_cerebro, "restore", "--input", str(tmp_path / "b"), database_url_file=target_file)
    assert again.returncode == 1 and "not empty" in again.stderr
    for result in (backup, restore, again):
        _assert_no_password(result, cerebro_url)
        _assert_no_password(result, target_file.read_text().strip())
