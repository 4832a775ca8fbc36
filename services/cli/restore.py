"""`cerebro restore`: a `cerebro backup` into an empty database, verified against its manifest."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import asyncpg

from cerebro.cli.commands import Command
from cerebro.runtime.config import ConfigError
from services.operations.backup.inventory import NotCerebroError
from services.operations.backup.manifest import ManifestError
from services.operations.backup.pg_tools import ToolError
from services.operations.backup.restore import RestoreError, RestoreReport, restore_backup
from services.operations.dsn import cerebro_database_url

DESCRIPTION = """\
Restore a `cerebro backup` directory into the database at CEREBRO_DATABASE_URL (or _FILE), which must
be empty (create it first). The dump's SHA-256 is checked before anything is written; roles the backup
grants to are created without login where missing; pg_restore runs as one transaction. Then the row
count and checksum of every table and the schema versions are compared with the manifest. Exit status:
0 identical, 1 refused, failed or different. Redis needs no restore: the reconciliation worker refills
it. See docs/operations.md."""


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", type=Path, required=True, metavar="DIR", help="a `cerebro backup` directory")


def _print_report(report: RestoreReport) -> None:
    print(f"restored the backup of {report.manifest.database} taken {report.manifest.created_at}")
    if report.created_roles:
        print(f"created roles (no login): {', '.join(report.created_roles)}")
    print(f"schema versions: {'identical' if report.schema_versions_match else 'DIFFERENT from the manifest'}")
    for check in report.tables:
        expected = "absent" if check.expected is None else f"{check.expected.rows} rows"
        restored = "absent" if check.restored is None else f"{check.restored.rows} rows"
        if check.ok:
            verdict = "ok"
        elif check.expected and check.restored and check.expected.rows == check.restored.rows:
            verdict = "MISMATCH (checksum)"
        else:
            verdict = "MISMATCH"
        print(f"  {verdict} {check.table}: manifest {expected}, restored {restored}")
    print("verified: identical to the backup" if report.ok else "NOT identical to the backup")


def run(args: argparse.Namespace) -> int:
    try:
        dsn = cerebro_database_url()
    except ConfigError as error:
        print(f"cerebro restore: {error}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(restore_backup(dsn, args.input))
    except (
        RestoreError,
        ManifestError,
        NotCerebroError,
        ToolError,
        OSError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ) as error:
        print(f"cerebro restore: {error}", file=sys.stderr)
        return 1
    _print_report(report)
    return 0 if report.ok else 1


COMMAND = Command(
    help="restore a backup into an empty database and verify it", description=DESCRIPTION, arguments=_arguments, run=run
)
