"""The memory schema, the workers' pool, the service's primary and read pools, and namespace-scoped
transactions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from prometheus_client import Counter

from cerebro.read_tokens import ReadToken
from cerebro.runtime import database, read_tokens
from cerebro.runtime.errors import not_found
from cerebro.runtime.migrations import Migration

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


READS = Counter(
    "memory_reads_total",
    "Reads of the memory service by the database that served them (replica, primary) and why a read"
    " that could have gone to the replica did not (caught_up, no_replica, behind, unreachable).",
    ["database", "reason"],
)
# A replica that does not answer within this long is skipped for the read (the primary serves it).
REPLICA_ACQUIRE_TIMEOUT_SECONDS = 1.0
# The first pause while waiting for a replica to replay a token; pauses double up to the last one.
REPLICA_POLL_FIRST_SECONDS = 0.001
REPLICA_POLL_MAX_SECONDS = 0.02
# What a replica that is down, restarting or cut off looks like to a read.
REPLICA_ERRORS: tuple[type[BaseException], ...] = (
    *database.UNREACHABLE,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
# Where the replica stands for a token: "primary" (a server not in recovery: a read URL naming the
# primary itself), "behind" (the token's position is not replayed yet), "replayed" (it is, and the token
# names no transaction), else the transaction's status in the replica's commit log. Evaluated in this
# order; pg_xact_status only once the position is replayed (the transaction id is known there by then),
# NULL for a transaction so old its status was truncated: committed long ago.
_REPLAY_STATE = """SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 'primary'
        WHEN pg_last_wal_replay_lsn() < $1::pg_lsn THEN 'behind'
        WHEN $2::xid8 IS NULL THEN 'replayed'
        ELSE coalesce(pg_xact_status($2::xid8), 'committed') END AS state,
    pg_last_wal_replay_lsn() AS replayed, pg_last_wal_receive_lsn() AS received"""


@dataclass
class MemoryDatabase:
    """The primary's pool, for writes, and optionally a replica's, for reads that may go there."""

    primary: asyncpg.Pool
    replica: asyncpg.Pool | None = None
    # How long a read waits for the replica to replay the caller's last write before it goes to the primary.
    replica_wait_seconds: float = 0.1
    # Set by the replica monitor (services.memory.replica_monitor): False skips the replica at once.
    replica_reachable: bool = True

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Connection]:
        """A connection for a read: the replica's when there is one that has replayed the caller's
        read token (waiting up to :attr:`replica_wait_seconds`), else the primary's."""
        replica = self.replica
        connection = await self._caught_up_replica_connection() if replica is not None else None
        if connection is None:
            async with self.primary.acquire() as primary_connection:
                yield primary_connection
            return
        assert replica is not None
        try:
            yield connection
        finally:
            await replica.release(connection)

    async def _caught_up_replica_connection(self) -> PoolConnectionProxy | None:
        assert self.replica is not None
        if not self.replica_reachable:
            READS.labels("primary", "unreachable").inc()
            return None
        try:
            connection: PoolConnectionProxy = await self.replica.acquire(timeout=REPLICA_ACQUIRE_TIMEOUT_SECONDS)
        except REPLICA_ERRORS:
            READS.labels("primary", "unreachable").inc()
            return None
        try:
            if await self._wait_until_caught_up(connection, read_tokens.required_token()):
                READS.labels("replica", "caught_up").inc()
                return connection
            READS.labels("primary", "behind").inc()
        except REPLICA_ERRORS:
            READS.labels("primary", "unreachable").inc()
        await self.replica.release(connection)
        return None

    async def _wait_until_caught_up(self, connection: Connection, token: ReadToken | None) -> bool:
        """Whether the replica has applied the token's write, waiting up to :attr:`replica_wait_seconds`.

        The commit log says "committed" from the moment the replica replays the commit record, a moment
        before its snapshots see the transaction as finished (and pg_current_snapshot() on a standby
        lists no running transactions, so it cannot tell). The commit record is applied in full once
        the replay position moves past where it stood when "committed" was first seen, or when all the
        WAL received so far is replayed. A token without a transaction id (a write that wrote nothing,
        such as an idempotent replay) needs the position alone: what it read was committed before.
        """
        if token is None:
            return True
        deadline = time.monotonic() + self.replica_wait_seconds
        pause = REPLICA_POLL_FIRST_SECONDS
        committed_at: int | None = None
        while True:
            row = await connection.fetchrow(_REPLAY_STATE, token.lsn, token.xid)
            assert row is not None
            state, replayed, received = row["state"], row["replayed"], row["received"]
            if state in ("primary", "replayed"):
                return True
            if state == "committed":
                if (committed_at is not None and replayed > committed_at) or (
                    received is not None and replayed >= received
                ):
                    return True
                committed_at = replayed if committed_at is None else committed_at
            if time.monotonic() + pause > deadline:
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, REPLICA_POLL_MAX_SECONDS)


@asynccontextmanager
async def namespace_transaction(
    db: MemoryDatabase, namespace: str, *, readonly: bool = False
) -> AsyncIterator[Connection]:
    """A transaction that sees only ``namespace`` (row-level security); NOT_FOUND if it does not exist.

    A read-only one may run on the replica (:meth:`MemoryDatabase.reading`); a writing one runs on the
    primary and records the call's read token (where the WAL stood when it began, and its transaction).
    """
    if readonly:
        async with db.reading() as connection, connection.transaction(readonly=True):
            exists = await connection.fetchval(
                "SELECT EXISTS (SELECT 1 FROM memory.namespaces WHERE name = $1)"
                " FROM (SELECT set_config('cerebro.namespace', $1, true)) AS scope",
                namespace,
            )
            if not exists:
                raise not_found("namespace", namespace)
            yield connection
        return
    async with db.primary.acquire() as connection, connection.transaction():
        scope = await connection.fetchrow(
            "SELECT EXISTS (SELECT 1 FROM memory.namespaces WHERE name = $1) AS exists,"
            " pg_current_wal_insert_lsn() AS lsn, pg_current_xact_id() AS xid"
            " FROM (SELECT set_config('cerebro.namespace', $1, true)) AS scope",
            namespace,
        )
        assert scope is not None
        if not scope["exists"]:
            raise not_found("namespace", namespace)
        yield connection
    read_tokens.note_write(ReadToken(scope["lsn"], int(scope["xid"])))


# SQLSTATE of memory.enter_namespace (migration 0010) for a namespace that does not exist.
NAMESPACE_MISSING = "CB404"


@contextmanager
def namespace_errors(namespace: str) -> Iterator[None]:
    """NOT_FOUND for the namespace a function of migration 0010 found missing."""
    try:
        yield
    except asyncpg.PostgresError as error:
        if error.sqlstate == NAMESPACE_MISSING:
            raise not_found("namespace", namespace) from None
        raise
