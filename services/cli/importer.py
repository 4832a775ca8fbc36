"""`cerebro import`: bring the memories of an old ARIA v4 or NEXUS Letta/Zep database into Cerebro."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import closing
from pathlib import Path

import asyncpg

from cerebro.cli.commands import Command
from cerebro.runtime.config import ConfigError
from services.operations.dsn import DsnError, cerebro_database_url, check_dsn, read_dsn_file
from services.operations.importer.namespaces import NamespaceMappingError, parse_namespace_map
from services.operations.importer.report import format_report
from services.operations.importer.run import ImportOptions, TargetError, run_import
from services.operations.importer.source import SourceError
from services.operations.progress import progress_enabled

DESCRIPTION = """\
Copy every row of an old ARIA v4 database (memory_system.*) or NEXUS Letta/Zep database (zep_*,
projects, nexus_memory.*) into the Cerebro database at CEREBRO_DATABASE_URL (or _FILE), which
`cerebro migrate` has prepared. Tables are detected; rows keep their ids and timestamps and land in the
namespace of their agent; rows already imported are left alone, so running it again imports nothing
new. Old vectors are dropped and the rows queued for embedding with the current model. Ends with a
report: per table, source rows = imported + already present + skipped, and every skipped row with
its reason. Exit status: 0 all rows are in Cerebro, 3 some rows were skipped, 1 error, 2 bad usage.
See docs/operations.md."""


def _batch_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError("must be between 1 and 10000")
    return value


def _arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--from",
        dest="source_url",
        metavar="DSN",
        help="postgresql:// URL of the old database (a command line is visible to `ps`: prefer --from-file)",
    )
    source.add_argument("--from-file", type=Path, metavar="PATH", help="a file holding that URL")
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would be imported; writes nothing (rolled back)"
    )
    parser.add_argument(
        "--batch-size", type=_batch_size, default=500, metavar="N", help="rows per batch (default: 500)"
    )
    parser.add_argument(
        "--namespace-map",
        action="append",
        default=[],
        metavar="AGENT=NAMESPACE",
        help="put the rows of old agent AGENT in NAMESPACE (repeatable)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    try:
        target = cerebro_database_url()
        source = read_dsn_file(args.from_file) if args.from_file else check_dsn(args.source_url, "--from")
        options = ImportOptions(
            batch_size=args.batch_size,
            dry_run=args.dry_run,
            namespace_map=parse_namespace_map(args.namespace_map),
            progress=progress_enabled(args.quiet),
        )
    except (ConfigError, DsnError, NamespaceMappingError) as error:
        print(f"cerebro import: {error}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(run_import(source, target, options))
    except (NamespaceMappingError, SourceError, TargetError) as error:
        print(f"cerebro import: {error}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        print(f"cerebro import: database error: {error}", file=sys.stderr)
        return 1
    with closing(report):
        for line in format_report(report):
            print(line)
        return 0 if report.complete else 3


COMMAND = Command(
    help="import an old ARIA v4 or NEXUS Letta/Zep database", description=DESCRIPTION, arguments=_arguments, run=run
)
