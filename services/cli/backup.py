"""`cerebro backup`: a consistent pg_dump of the Cerebro database with a manifest to verify it by."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import asyncpg

from cerebro.cli.commands import Command
from cerebro.runtime.config import ConfigError
from services.operations.backup.backup import BackupError, create_backup
from services.operations.backup.inventory import NotCerebroError
from services.operations.backup.pg_tools import ToolError
from services.operations.dsn import cerebro_database_url

DESCRIPTION = """\
Back up the Cerebro database at CEREBRO_DATABASE_URL (or _FILE) into a new or empty directory:
cerebro.dump (pg_dump custom format) and manifest.json (schema version of each component, row count
and checksum of every table, the dump's SHA-256), all taken from one snapshot while services keep
running. Redis is not backed up: it is a cache the reconciliation worker refills from PostgreSQL.
Restore with `cerebro restore`. See docs/operations.md."""


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, required=True, metavar="DIR", help="a new or empty directory")


def run(args: argparse.Namespace) -> int:
    try:
        dsn = cerebro_database_url()
    except ConfigError as error:
        print(f"cerebro backup: {error}", file=sys.stderr)
        return 2
    try:
        manifest = asyncio.run(create_backup(dsn, args.output))
    except (BackupError, NotCerebroError, ToolError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        print(f"cerebro backup: {error}", file=sys.stderr)
        return 1
    rows = sum(state.rows for state in manifest.tables.values())
    versions = ", ".join(f"{name} {info['version']}" for name, info in manifest.schema_versions.items())
    print(f"backed up {manifest.database} to {args.output}: {len(manifest.tables)} tables, {rows} rows")
    print(f"schema versions: {versions}")
    print(f"{manifest.dump_file}: {manifest.dump_bytes} bytes, sha256 {manifest.dump_sha256}")
    return 0


COMMAND = Command(
    help="back up the Cerebro database (pg_dump + manifest)", description=DESCRIPTION, arguments=_arguments, run=run
)
