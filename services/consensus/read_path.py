"""Where the consensus service reads: the region's replica (CEREBRO_CONSENSUS_READ_DATABASE_URL) when it
has one that has replayed the caller's last write, else the primary; writes always go to the primary.

Read tokens work as for the memory service (cerebro.read_tokens; the interceptor and the call's tokens
are cerebro.runtime.read_tokens'): a write answers ``x-cerebro-lsn``, a read that brings it back in
``x-cerebro-min-lsn`` waits (bounded) for the replica to apply that write (cerebro.runtime.replica_reads).
"""

from __future__ import annotations

import asyncpg
from prometheus_client import Counter, Gauge

from cerebro.read_tokens import ReadToken
from cerebro.runtime.read_tokens import note_write, read_tokens_interceptor, required_token
from cerebro.runtime.replica_reads import ReplicaMetrics, ReplicaReads

# consensus_reads_total, consensus_replica_up, consensus_replica_lag_bytes, consensus_replica_lag_seconds.
REPLICA_METRICS = ReplicaMetrics(
    reads=Counter(
        "consensus_reads_total",
        "Reads of the consensus service by the database that served them (replica, primary) and why a read"
        " that could have gone to the replica did not (caught_up, no_replica, behind, unreachable).",
        ["database", "reason"],
    ),
    up=Gauge("consensus_replica_up", "1 while the consensus service's read replica answers, else 0."),
    lag_bytes=Gauge(
        "consensus_replica_lag_bytes",
        "WAL the read replica has still to replay: the primary's position minus its replay.",
    ),
    lag_seconds=Gauge(
        "consensus_replica_lag_seconds",
        "Age of the last transaction the read replica replayed while it has WAL left to replay; 0 when caught up.",
    ),
)

__all__ = ["REPLICA_METRICS", "consensus_database", "note_written", "read_tokens_interceptor"]


def consensus_database(primary: asyncpg.Pool, replica_wait_seconds: float = 0.1) -> ReplicaReads:
    """The primary's pool, and (once set) the replica's, reading with the consensus call's token."""
    return ReplicaReads(primary, REPLICA_METRICS, required_token, replica_wait_seconds=replica_wait_seconds)


def note_written(row: asyncpg.Record) -> None:
    """The read token of a write that returned its ``written_lsn`` and ``written_xid`` (migration 0004)."""
    xid = row["written_xid"]
    note_write(ReadToken(row["written_lsn"], None if xid is None else int(xid)))
