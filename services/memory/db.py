"""The memory schema, the workers' pool, the service's primary and read pools, and namespace-scoped
transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from prometheus_client import Counter, Gauge

from cerebro.read_tokens import ReadToken
from cerebro.runtime import database, read_tokens
from cerebro.runtime.errors import not_found
from cerebro.runtime.migrations import Migration
from cerebro.runtime.replica_reads import ReplicaMetrics, ReplicaReads

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SCHEMA = database.Schema(component="memory", migrations_dir=MIGRATIONS_DIR)
# What the store's statements run on: a connection acquired from a pool (a proxy, to asyncpg's types)
# or one of its own.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


async def migrate(dsn: str) -> list[Migration]:
    """Apply the memory migrations not yet applied; returns those applied."""
    return await database.migrate(dsn, SCHEMA)


async def open_worker_pool(
    dsn: str, role: str | None, *, apply_migrations: bool, max_size: int, stop: asyncio.Event
) -> asyncpg.Pool | None:
    """The pool a worker works through as ``role``, once PostgreSQL answers (after the migrations, when
    ``apply_migrations``); None when ``stop`` is set first. Workers run without a ServiceHost."""

    async def open_pool() -> asyncpg.Pool:
        if apply_migrations:
            await database.migrate_when_reachable(dsn, SCHEMA)
        return await database.open_pool_when_reachable(database.dsn_with_role(dsn, role), max_size=max_size)

    opening = asyncio.ensure_future(open_pool())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([opening, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not opening.done():
        opening.cancel()
        await asyncio.gather(opening, return_exceptions=True)
        return None
    return opening.result()


# The memory service's reads on its replica (memory_reads_total, memory_replica_*).
REPLICA_METRICS = ReplicaMetrics(
    reads=Counter(
        "memory_reads_total",
        "Reads of the memory service by the database that served them (replica, primary) and why a read"
        " that could have gone to the replica did not (caught_up, no_replica, behind, unreachable).",
        ["database", "reason"],
    ),
    up=Gauge("memory_replica_up", "1 while the memory service's read replica answers, else 0."),
    lag_bytes=Gauge(
        "memory_replica_lag_bytes",
        "WAL the read replica has still to replay: the primary's position minus its replay.",
    ),
    lag_seconds=Gauge(
        "memory_replica_lag_seconds",
        "Age of the last transaction the read replica replayed while it has WAL left to replay; 0 when caught up.",
    ),
)


@dataclass
class MemoryDatabase(ReplicaReads):
    """The primary's pool, for writes, and optionally a replica's, for reads that may go there; the
    tokens a read must see are the memory call's (cerebro.runtime.read_tokens)."""

    metrics: ReplicaMetrics = REPLICA_METRICS
    required_token: Callable[[], ReadToken | None] = read_tokens.required_token


@asynccontextmanager
async def reading_namespace(db: MemoryDatabase, namespace: str) -> AsyncIterator[Connection]:
    """A read-only transaction that sees only ``namespace`` (row-level security), on the replica when it
    may serve the call (:meth:`MemoryDatabase.reading`); NOT_FOUND if the namespace does not exist.

    Writes do not need one: each is a single statement that enters its namespace itself (migrations
    0010-0012), so that it costs one round trip to the primary.
    """
    async with db.reading() as connection, connection.transaction(readonly=True):
        exists = await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM memory.namespaces WHERE name = $1)"
            " FROM (SELECT set_config('cerebro.namespace', $1, true)) AS scope",
            namespace,
        )
        if not exists:
            raise not_found("namespace", namespace)
        yield connection


def note_written(row: asyncpg.Record) -> None:
    """Record the read token a writing function of migrations 0010 and 0011 returned: its ``written_lsn``
    and ``written_xid`` (None when the call wrote nothing, e.g. an idempotent retry)."""
    xid = row["written_xid"]
    read_tokens.note_write(ReadToken(row["written_lsn"], None if xid is None else int(xid)))


# SQLSTATE of memory.enter_namespace (migration 0010) for a namespace that does not exist.
NAMESPACE_MISSING = "CB404"


@contextmanager
def namespace_errors(namespace: str) -> Iterator[None]:
    """NOT_FOUND for the namespace a function of migrations 0010 and 0011 found missing."""
    try:
        yield
    except asyncpg.PostgresError as error:
        if error.sqlstate == NAMESPACE_MISSING:
            raise not_found("namespace", namespace) from None
        raise
