"""`cerebro queue`: the embeddings queue per state with ages, the errors of dead jobs, and requeueing them."""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from cerebro.cli.commands import Command
from cerebro.runtime.config import ConfigError
from services.operations import queue_admin
from services.operations.ages import format_age
from services.operations.dsn import cerebro_database_url

DESCRIPTION = """\
`cerebro queue` (or `cerebro queue list`) shows the embeddings queue of the Cerebro database at
CEREBRO_DATABASE_URL (or _FILE): jobs per state (pending, processing, done, dead) with the age of the
oldest, and the last errors of dead jobs. `cerebro queue requeue --all` or `cerebro queue requeue ID...`
puts dead jobs back to pending with a fresh set of attempts and wakes the embeddings workers."""


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("list", "requeue"), default="list", help="default: list")
    parser.add_argument("job_ids", nargs="*", type=int, metavar="ID", help="requeue: these dead jobs")
    parser.add_argument("--all", action="store_true", help="requeue: every dead job")
    parser.add_argument("--namespace", help="list: only this namespace's jobs")
    parser.add_argument(
        "--errors", type=int, default=10, metavar="N", help="list: dead jobs to show, newest first (default: 10)"
    )


def _usage_error(args: argparse.Namespace) -> str | None:
    if args.action == "requeue" and args.all == bool(args.job_ids):
        return "requeue takes either --all or job ids"
    if args.action == "list" and (args.all or args.job_ids):
        return "list takes no job ids and no --all"
    return None


async def _list(dsn: str, namespace: str | None, errors: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        states = await queue_admin.summary(connection, namespace)
        dead = await queue_admin.dead_jobs(connection, errors, namespace)
    finally:
        await connection.close()
    print(f"embeddings queue ({'namespace ' + namespace if namespace else 'all namespaces'})")
    print(f"  {'state':<10} {'jobs':>10}  oldest")
    for state in states:
        print(f"  {state.state:<10} {state.jobs:>10}  {format_age(state.oldest)}")
    if dead:
        print("last errors of dead jobs (newest first):")
    for job in dead:
        died = "-" if job.died_at is None else job.died_at.isoformat(timespec="seconds")
        print(f"  job {job.job_id} ({job.namespace}, {job.subject}, {job.attempts} attempts, dead since {died}):")
        print(f"    {job.last_error or '(no error recorded)'}")


async def _requeue(dsn: str, job_ids: list[int] | None) -> queue_admin.RequeueResult:
    connection = await asyncpg.connect(dsn)
    try:
        return await queue_admin.requeue_dead(connection, job_ids)
    finally:
        await connection.close()


def run(args: argparse.Namespace) -> int:
    try:
        dsn = cerebro_database_url()
    except ConfigError as error:
        print(f"cerebro queue: {error}", file=sys.stderr)
        return 2
    usage_error = _usage_error(args)
    if usage_error is not None:
        print(f"cerebro queue: {usage_error}", file=sys.stderr)
        return 2
    try:
        if args.action == "requeue":
            result = asyncio.run(_requeue(dsn, None if args.all else args.job_ids))
            print(f"requeued {len(result.requeued)} dead jobs" + (f": {result.requeued}" if result.requeued else ""))
            for job_id, reason in result.not_requeued.items():
                print(f"job {job_id} {reason}; left alone", file=sys.stderr)
            return 1 if result.not_requeued else 0
        asyncio.run(_list(dsn, args.namespace, args.errors))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        print(f"cerebro queue: {error}", file=sys.stderr)
        return 1
    return 0


COMMAND = Command(
    help="show the embeddings queue, requeue dead jobs", description=DESCRIPTION, arguments=_arguments, run=run
)
