"""How far the read replica is behind the primary, as metrics, and whether reads may try it at all."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Gauge

from services.memory.db import REPLICA_ERRORS, MemoryDatabase

log = logging.getLogger(__name__)

REPLICA_UP = Gauge("memory_replica_up", "1 while the memory service's read replica answers, else 0.")
REPLICA_LAG_BYTES = Gauge(
    "memory_replica_lag_bytes", "WAL the read replica has still to replay: the primary's position minus its replay."
)
REPLICA_LAG_SECONDS = Gauge(
    "memory_replica_lag_seconds",
    "Age of the last transaction the read replica replayed while it has WAL left to replay; 0 when caught up.",
)
INTERVAL_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 2.0

# Lag in time only counts while WAL received is not yet replayed: an idle primary writes no
# transactions, and the last replayed one ages without the replica being behind.
_REPLICA_POSITION = """SELECT pg_last_wal_replay_lsn() AS replayed,
    CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
         ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END AS seconds"""


async def measure(db: MemoryDatabase) -> None:
    """Probe the replica once: set the gauges, and whether reads may try the replica."""
    assert db.replica is not None
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
        REPLICA_UP.set(0)
        return
    if not db.replica_reachable:
        log.info("the read replica answers again")
    db.replica_reachable = True
    REPLICA_UP.set(1)
    # A read URL naming a server that is not in recovery (the primary) replays nothing.
    REPLICA_LAG_BYTES.set(max(float(lag_bytes or 0), 0.0) if replica["replayed"] is not None else 0.0)
    REPLICA_LAG_SECONDS.set(float(replica["seconds"] or 0))


async def keep_measuring(db: MemoryDatabase, interval_seconds: float = INTERVAL_SECONDS) -> None:
    while True:
        await measure(db)
        await asyncio.sleep(interval_seconds)
