"""The embeddings queue as an operator sees it: counts and ages per state, dead jobs and their errors,
and putting dead jobs back in line."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from cerebro.runtime.notifications import notify
from services.memory.store.embedding_queue import CHANNEL

STATES = ("pending", "processing", "done", "dead")


@dataclass(frozen=True)
class StateSummary:
    state: str
    jobs: int
    oldest: timedelta | None
    """How long ago the oldest job in this state was enqueued."""


@dataclass(frozen=True)
class DeadJob:
    job_id: int
    namespace: str
    episode_id: uuid.UUID | None
    semantic_memory_id: uuid.UUID | None
    attempts: int
    last_error: str | None
    died_at: datetime | None

    @property
    def subject(self) -> str:
        if self.episode_id is not None:
            return f"episode {self.episode_id}"
        return f"semantic memory {self.semantic_memory_id}"


@dataclass(frozen=True)
class RequeueResult:
    requeued: list[int]
    not_requeued: dict[int, str]
    """Requested job ids left alone, with the reason (not dead, or no such job)."""


async def summary(connection: asyncpg.Connection, namespace: str | None = None) -> list[StateSummary]:
    """One line per state, in queue order, zero for states without jobs."""
    rows = await connection.fetch(
        """SELECT state, count(*) AS jobs, now() - min(enqueued_at) AS oldest
           FROM memory.embeddings_queue WHERE $1::text IS NULL OR namespace = $1
           GROUP BY state""",
        namespace,
    )
    by_state = {row["state"]: row for row in rows}
    return [
        StateSummary(state, by_state[state]["jobs"], by_state[state]["oldest"])
        if state in by_state
        else StateSummary(state, 0, None)
        for state in STATES
    ]


async def dead_jobs(connection: asyncpg.Connection, limit: int, namespace: str | None = None) -> list[DeadJob]:
    """The ``limit`` most recently dead jobs, newest first."""
    rows = await connection.fetch(
        """SELECT job_id, namespace, episode_id, semantic_memory_id, attempts, last_error, completed_at
           FROM memory.embeddings_queue
           WHERE state = 'dead' AND ($2::text IS NULL OR namespace = $2)
           ORDER BY completed_at DESC NULLS LAST, job_id DESC LIMIT $1""",
        limit,
        namespace,
    )
    return [
        DeadJob(
            row["job_id"],
            row["namespace"],
            row["episode_id"],
            row["semantic_memory_id"],
            row["attempts"],
            row["last_error"],
            row["completed_at"],
        )
        for row in rows
    ]


async def requeue_dead(connection: asyncpg.Connection, job_ids: list[int] | None) -> RequeueResult:
    """Dead jobs (all of them when ``job_ids`` is None) back to pending with a fresh set of attempts.

    The last error is kept until the next attempt replaces or clears it."""
    async with connection.transaction():
        rows = await connection.fetch(
            """UPDATE memory.embeddings_queue
               SET state = 'pending', attempts = 0, enqueued_at = now(), next_attempt_at = now(),
                   completed_at = NULL, claimed_at = NULL, claimed_by = NULL
               WHERE state = 'dead' AND ($1::bigint[] IS NULL OR job_id = ANY($1::bigint[]))
               RETURNING job_id""",
            job_ids,
        )
        if rows:
            # Wakes the embeddings workers at commit.
            await notify(connection, CHANNEL, "")
    requeued = sorted(row["job_id"] for row in rows)
    not_requeued: dict[int, str] = {}
    if job_ids is not None:
        left = sorted(set(job_ids) - set(requeued))
        states = {
            row["job_id"]: row["state"]
            for row in await connection.fetch(
                "SELECT job_id, state FROM memory.embeddings_queue WHERE job_id = ANY($1::bigint[])", left
            )
        }
        not_requeued = {
            job_id: f"is {states[job_id]}, not dead" if job_id in states else "no such job" for job_id in left
        }
    return RequeueResult(requeued, not_requeued)
