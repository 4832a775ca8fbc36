"""`cerebro migrate` against a real, empty database: applies once, enables role logins, is idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _migrate(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CEREBRO_")}
    return subprocess.run(
        [sys.executable, "-m", "cerebro", "migrate"],
        env={**clean, **environ},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _as_user(dsn: str, user: str, password: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))


async def test_migrate_applies_once_and_enables_logins(fresh_database_url: str, tmp_path: Path) -> None:
    password_file = tmp_path / "cerebro_memory_reader_password"
    password_file.write_text("ro-" + os.urandom(12).hex())
    environ = {
        "CEREBRO_DATABASE_URL": fresh_database_url,
        "CEREBRO_MEMORY_READER_DATABASE_PASSWORD_FILE": str(password_file),
    }

    first = _migrate(environ)
    assert first.returncode == 0, first.stderr
    for component in ("memory", "consensus", "gateway"):
        assert f"{component}: applied 0001_" in first.stdout
    assert "logins enabled for: cerebro_memory_reader" in first.stdout

    second = _migrate(environ)
    assert second.returncode == 0, second.stderr
    assert "memory: applied none (up to date)" in second.stdout

    reader = await asyncpg.connect(_as_user(fresh_database_url, "cerebro_memory_reader", password_file.read_text()))
    try:
        assert await reader.fetchval("SELECT current_user") == "cerebro_memory_reader"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await reader.execute("INSERT INTO memory.namespaces (name) VALUES ('intruder')")
    finally:
        await reader.close()


def test_migrate_without_database_url_fails_with_one_line() -> None:
    result = _migrate({})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "cerebro migrate: configuration error: CEREBRO_DATABASE_URL (or CEREBRO_DATABASE_URL_FILE) is required"
    ]
