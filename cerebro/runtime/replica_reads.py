"""Reads on a streaming replica with read-your-writes, for a service with a primary and a read URL
(the memory and consensus services).

A read that brings a token (:mod:`cerebro.read_tokens`) is served by the replica only once the replica
has replayed the WAL up to the token's position *and* applied its transaction's commit record: the
position alone is not enough, because the commit record is written after the statement that read the
position. :meth:`ReplicaReads.reading` waits for that, bounded, then reads the primary. A token without
a transaction id (a write that wrote nothing, such as an idempotent replay) is satisfied by the position
alone: what it read was committed before.

:func:`keep_measuring` probes the replica once a second: how far behind it is, as gauges, and whether
reads may try it at all (a replica that does not answer is skipped at once until it answers again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from prometheus_client import Counter, Gauge

from cerebro.read_tokens import ReadToken
from cerebro.runtime import database

log = logging.getLogger(__name__)

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
MEASURE_INTERVAL_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 2.0

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

# Lag in time only counts while WAL received is not yet replayed: an idle primary writes no
# transactions, and the last replayed one ages without the replica being behind.
_REPLICA_POSITION = """SELECT pg_last_wal_replay_lsn() AS replayed,
    CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
         ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END AS seconds"""


@dataclass(frozen=True)
class ReplicaMetrics:
    """A service's own metrics of its read path (``<service>_reads_total``, ``<service>_replica_*``), named
    in full where the service defines them."""

    # Reads by the database that served them (replica, primary) and why a read that could have gone to
    # the replica did not (caught_up, no_replica, behind, unreachable): labels database, reason.

    reads: Counter
    # 1 while the read replica answers, else 0.
    up: Gauge
    # WAL the replica has still to replay: the primary's position minus its replay.
    lag_bytes: Gauge
    # Age of the last transaction replayed while WAL is left to replay; 0 when caught up.
    lag_seconds: Gauge


@dataclass
class ReplicaReads:
    """The primary's pool, for writes, and optionally a replica's, for reads that may go there."""

    primary: asyncpg.Pool
    metrics: ReplicaMetrics
    # The token the current call brought (what its reads must see), None when it brought none.
    required_token: Callable[[], ReadToken | None]
    replica: asyncpg.Pool | None = None
    # How long a read waits for the replica to replay the caller's last write before it goes to the primary.
    replica_wait_seconds: float = 0.1
    # Set by :func:`keep_measuring`: False skips the replica at once.
    replica_reachable: bool = True

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[asyncpg.Connection | PoolConnectionProxy]:
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
        reads = self.metrics.reads
        if not self.replica_reachable:
            reads.labels("primary", "unreachable").inc()
            return None
        try:
            connection: PoolConnectionProxy = await self.replica.acquire(timeout=REPLICA_ACQUIRE_TIMEOUT_SECONDS)
        except REPLICA_ERRORS:
            reads.labels("primary", "unreachable").inc()
            return None
        try:
            if await self._wait_until_caught_up(connection, self.required_token()):
                reads.labels("replica", "caught_up").inc()
                return connection
            reads.labels("primary", "behind").inc()
        except REPLICA_ERRORS:
            reads.labels("primary", "unreachable").inc()
        await self.replica.release(connection)
        return None

    async def _wait_until_caught_up(
        self, connection: asyncpg.Connection | PoolConnectionProxy, token: ReadToken | None
    ) -> bool:
        """Whether the replica has applied the token's write, waiting up to :attr:`replica_wait_seconds`.

        The commit log says "committed" from the moment the replica replays the commit record, a moment
        before its snapshots see the transaction as finished (and pg_current_snapshot() on a standby
        lists no running transactions, so it cannot tell). The commit record is applied in full once
        the replay position moves past where it stood when "committed" was first seen, or when all the
        WAL received so far is replayed.
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


async def measure(db: ReplicaReads) -> None:
    """Probe the replica once: set the gauges, and whether reads may try the replica."""
    assert db.replica is not None
    metrics = db.metrics
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            replica = await db.replica.fetchrow(_REPLICA_POSITION)
            assert replica is not None
            lag_bytes = await db.primary.fetchval(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)", replica["replayed"]
            )
    except REPLICA_ERRORS as exc:
        if db.replica_reachable:
            log.warning("the read replica does not answer (%s); reads go to the primary", exc)
        db.replica_reachable = False
        metrics.up.set(0)
        return
    if not db.replica_reachable:
        log.info("the read replica answers again")
    db.replica_reachable = True
    metrics.up.set(1)
    # A read URL naming a server that is not in recovery (the primary) replays nothing.
    metrics.lag_bytes.set(max(float(lag_bytes or 0), 0.0) if replica["replayed"] is not None else 0.0)
    metrics.lag_seconds.set(float(replica["seconds"] or 0))


async def keep_measuring(db: ReplicaReads, interval_seconds: float = MEASURE_INTERVAL_SECONDS) -> None:
    while True:
        await measure(db)
        await asyncio.sleep(interval_seconds)
