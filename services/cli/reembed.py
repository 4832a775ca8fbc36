"""`cerebro reembed`: re-embed every vector whose embedding version is not the Embedder's current one."""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from cerebro.cli.commands import Command
from cerebro.runtime.config import ConfigError, load_service_settings
from services.memory.embedder_client import EmbedderClient, EmbedderError
from services.operations import reembed
from services.operations.dsn import cerebro_database_url
from services.operations.progress import progress_bar, progress_enabled

DESCRIPTION = """\
Ask the Embedder (CEREBRO_EMBEDDER_TARGET, over gRPC) for its current embedding version, then put every
episode and semantic memory whose vector has another version back into the embeddings queue of the
Cerebro database at CEREBRO_DATABASE_URL (or _FILE), at the lowest priority, and follow the embeddings
worker draining it. Old vectors keep serving searches until their replacement is stored. Exit status:
0 every vector is current (or, with --no-wait, all were queued), 1 rows left (dead jobs, timeout) or error."""

EMBEDDER_TIMEOUT_SECONDS = 10.0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-wait", action="store_true", help="queue the rows and return")
    parser.add_argument("--batch-size", type=_positive, default=1000, metavar="N", help="rows per batch (1000)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="stop following the queue after this")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


async def _current_version() -> str:
    settings = load_service_settings("embeddings-worker")
    client = EmbedderClient(settings.target("embedder"), settings.tls, timeout_seconds=EMBEDDER_TIMEOUT_SECONDS)
    try:
        return (await client.model_info()).embedding_version
    finally:
        await client.close()


async def _reembed(dsn: str, args: argparse.Namespace) -> int:
    version = await _current_version()
    print(f"Embedder embedding version: {version}")
    show = progress_enabled(args.quiet)
    connection = await asyncpg.connect(dsn)
    try:
        total = (await reembed.remaining(connection, version)).stale
        with progress_bar(total, "requeue", enabled=show) as bar:

            def requeued(rows: int) -> None:
                bar.update(rows)

            outcome = await reembed.requeue_stale(connection, version, args.batch_size, requeued)
        stale = ", ".join(f"{count} {label}" for label, count in outcome.stale.items())
        print(f"vectors of another version: {stale}; {outcome.requeued} queued for re-embedding")
        if args.no_wait:
            return 0
        queued = sum(outcome.stale.values())
        with progress_bar(queued, "re-embed", enabled=show) as bar:

            def advance(left: reembed.Remaining) -> None:
                bar.update(max(0, queued - left.stale - bar.n))

            left = await reembed.follow_draining(connection, version, advance, timeout_seconds=args.timeout)
    finally:
        await connection.close()
    if left.stale == 0:
        print(f"done: every vector has embedding version {version}")
        return 0
    print(f"{left.stale} rows still have another version ({left.dead} with dead jobs: see `cerebro queue`)")
    if left.stale > left.dead:
        print("timed out: is the embeddings worker running?")
    return 1


def run(args: argparse.Namespace) -> int:
    try:
        dsn = cerebro_database_url()
    except ConfigError as error:
        print(f"cerebro reembed: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_reembed(dsn, args))
    except ConfigError as error:
        print(f"cerebro reembed: {error}", file=sys.stderr)
        return 2
    except EmbedderError as error:
        print(f"cerebro reembed: cannot read the Embedder's model: {error}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        print(f"cerebro reembed: {error}", file=sys.stderr)
        return 1


COMMAND = Command(
    help="re-embed vectors of an older embedding version", description=DESCRIPTION, arguments=_arguments, run=run
)
