"""Re-embedding with the Embedder's current model: every vector of another embedding version goes back
into the embeddings queue (lowest priority, so new memories are embedded first), then the worker drains it.

Rows are requeued in keyset-paginated batches, each one statement: the row's job is reset to pending if
it is done or dead, or created if the row has none (a row restored or written with its vector). Jobs
already pending or processing are left alone: the worker embeds them with the current model anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from cerebro.runtime.notifications import notify
from services.memory.store.embedding_queue import CHANNEL


@dataclass(frozen=True)
class StaleTable:
    """A table of embedded rows; names from this fixed allow-list only."""

    label: str
    table: str
    vector_table: str
    id_column: str


STALE_TABLES = (
    StaleTable("episodes", "memory.episodes", "memory.episode_vectors", "episode_id"),
    StaleTable("semantic memories", "memory.semantic_memories", "memory.semantic_memory_vectors", "semantic_memory_id"),
)
REEMBED_PRIORITY = 0


@dataclass(frozen=True)
class RequeueOutcome:
    stale: dict[str, int]
    """Rows per table whose vector has another embedding version."""
    requeued: int
    """Jobs created or reset to pending; the rest of the stale rows were pending or processing already."""


@dataclass(frozen=True)
class Remaining:
    stale: int
    dead: int
    """Stale rows whose job is dead: they will not be re-embedded without `cerebro queue requeue`."""


def _requeue_sql(table: StaleTable, *, first: bool) -> str:
    after = "" if first else f"AND t.{table.id_column} > $3"
    return f"""
        WITH stale AS (
            SELECT t.{table.id_column} AS id, t.namespace, t.content_checksum FROM {table.table} t
            JOIN {table.vector_table} v ON v.{table.id_column} = t.{table.id_column}
            WHERE v.embedding_version <> $1 {after}
            ORDER BY t.{table.id_column} LIMIT $2
        ), queued AS (
            INSERT INTO memory.embeddings_queue AS q (namespace, {table.id_column}, content_checksum, priority)
            SELECT namespace, id, content_checksum, {REEMBED_PRIORITY} FROM stale
            ON CONFLICT ({table.id_column}) DO UPDATE
                SET state = 'pending', priority = {REEMBED_PRIORITY}, attempts = 0, last_error = NULL,
                    content_checksum = EXCLUDED.content_checksum, enqueued_at = now(), next_attempt_at = now(),
                    completed_at = NULL, claimed_at = NULL, claimed_by = NULL
                WHERE q.state IN ('done', 'dead')
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM stale) AS seen,
               (SELECT count(*) FROM queued) AS queued,
               (SELECT id FROM stale ORDER BY id DESC LIMIT 1) AS last_id"""


async def requeue_stale(
    connection: asyncpg.Connection, embedding_version: str, batch_size: int, on_batch: Callable[[int], None]
) -> RequeueOutcome:
    """Requeue every row whose vector is not of ``embedding_version``; ``on_batch`` gets each batch's row count."""
    stale: dict[str, int] = {}
    requeued = 0
    for table in STALE_TABLES:
        stale[table.label] = 0
        last_id = None
        while True:
            async with connection.transaction():
                if last_id is None:
                    row = await connection.fetchrow(_requeue_sql(table, first=True), embedding_version, batch_size)
                else:
                    row = await connection.fetchrow(
                        _requeue_sql(table, first=False), embedding_version, batch_size, last_id
                    )
                assert row is not None  # aggregates make one row
                if row["queued"]:
                    await notify(connection, CHANNEL, "")
            stale[table.label] += row["seen"]
            requeued += row["queued"]
            on_batch(row["seen"])
            if row["seen"] < batch_size:
                break
            last_id = row["last_id"]
    return RequeueOutcome(stale, requeued)


async def remaining(connection: asyncpg.Connection, embedding_version: str) -> Remaining:
    """Rows still carrying a vector of another version, and how many of them have a dead job."""
    stale = dead = 0
    for table in STALE_TABLES:
        row = await connection.fetchrow(
            f"""SELECT count(*) AS stale, count(*) FILTER (WHERE q.state = 'dead') AS dead
                FROM {table.vector_table} t
                LEFT JOIN memory.embeddings_queue q ON q.{table.id_column} = t.{table.id_column}
                WHERE t.embedding_version <> $1""",
            embedding_version,
        )
        assert row is not None  # aggregates make one row
        stale += row["stale"]
        dead += row["dead"]
    return Remaining(stale, dead)


async def follow_draining(
    connection: asyncpg.Connection,
    embedding_version: str,
    on_progress: Callable[[Remaining], None],
    *,
    poll_seconds: float = 1.0,
    timeout_seconds: float | None = None,
) -> Remaining:
    """Poll until no stale row is left, or every one left has a dead job, or the timeout passes."""
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    while True:
        left = await remaining(connection, embedding_version)
        on_progress(left)
        if left.stale == left.dead or (deadline is not None and time.monotonic() >= deadline):
            return left
        await asyncio.sleep(poll_seconds)
