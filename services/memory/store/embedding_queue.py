"""The embeddings queue (`memory.embeddings_queue`, migration 0002): what a job is, and storing its vector.

Claiming, leases, retries, dead letters and reclaiming are the kit's :class:`LeasedQueue` over this
table (:data:`EMBEDDINGS_QUEUE`); what is memory's own is here. A claimed job's text and checksum are
read after the claim, from one row version. A vector is stored only if the row's content still has
the checksum of the text that was embedded, so a concurrent edit never gets a stale vector: the edit
reset the job (new checksum, no claim token), and it stays pending for the new content.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from pgvector import Vector

from cerebro.runtime.leased_queue import Claim, JobTable
from cerebro.runtime.notifications import notify

EMBEDDINGS_QUEUE = JobTable(
    name="memory.embeddings_queue", key="job_id", claim_order="priority DESC, next_attempt_at, job_id"
)
# Notified (by the enqueue triggers of migration 0002, and here) whenever jobs become due.
CHANNEL = "cerebro_embeddings"


@dataclass(frozen=True)
class ClaimedJob:
    job_id: int
    episode_id: uuid.UUID | None
    semantic_memory_id: uuid.UUID | None
    text: str
    checksum: bytes
    attempts: int


async def claimed_jobs(connection: asyncpg.Connection, claim: Claim) -> list[ClaimedJob]:
    """The text to embed of each job of ``claim`` (read after the claim committed), highest priority first."""
    if not claim.keys:
        return []
    rows = await connection.fetch(
        """
        SELECT q.job_id, q.episode_id, q.semantic_memory_id, q.attempts,
               coalesce(e.content, s.concept || E'\\n' || s.definition) AS text,
               coalesce(e.content_checksum, s.content_checksum) AS checksum
        FROM memory.embeddings_queue q
        LEFT JOIN memory.episodes e ON e.episode_id = q.episode_id
        LEFT JOIN memory.semantic_memories s ON s.semantic_memory_id = q.semantic_memory_id
        WHERE q.job_id = ANY($1::bigint[]) AND q.claim_token = $2
        ORDER BY q.priority DESC, q.job_id
        """,
        claim.keys,
        claim.token,
    )
    return [
        ClaimedJob(
            row["job_id"], row["episode_id"], row["semantic_memory_id"], row["text"], row["checksum"], row["attempts"]
        )
        for row in rows
    ]


async def store_vectors(
    connection: asyncpg.Connection,
    jobs: Sequence[ClaimedJob],
    vectors: Sequence[Sequence[float]],
    embedding_version: str,
) -> None:
    """Each job's vector, on its row if the row's content is still the text that was embedded."""
    episodes = [(job, vector) for job, vector in zip(jobs, vectors, strict=True) if job.episode_id is not None]
    semantic = [(job, vector) for job, vector in zip(jobs, vectors, strict=True) if job.semantic_memory_id is not None]
    if episodes:
        await connection.execute(
            """UPDATE memory.episodes e SET embedding = v.embedding, embedding_version = $4, embedded_at = now()
               FROM unnest($1::uuid[], $2::bytea[], $3::vector[]) AS v(id, checksum, embedding)
               WHERE e.episode_id = v.id AND e.content_checksum = v.checksum""",
            [job.episode_id for job, _ in episodes],
            [job.checksum for job, _ in episodes],
            [Vector(list(vector)) for _, vector in episodes],
            embedding_version,
        )
    if semantic:
        await connection.execute(
            """UPDATE memory.semantic_memories e
               SET embedding = v.embedding, embedding_version = $4, embedded_at = now()
               FROM unnest($1::uuid[], $2::bytea[], $3::vector[]) AS v(id, checksum, embedding)
               WHERE e.semantic_memory_id = v.id AND e.content_checksum = v.checksum""",
            [job.semantic_memory_id for job, _ in semantic],
            [job.checksum for job, _ in semantic],
            [Vector(list(vector)) for _, vector in semantic],
            embedding_version,
        )


async def requeue_outdated(connection: asyncpg.Connection, embedding_version: str, limit: int) -> int:
    """Put up to ``limit`` done jobs whose stored vector has another version back in the queue, lowest priority."""
    async with connection.transaction():
        rows = await connection.fetch(
            """
            WITH outdated AS (
                SELECT q.job_id FROM memory.embeddings_queue q
                LEFT JOIN memory.episodes e ON e.episode_id = q.episode_id
                LEFT JOIN memory.semantic_memories s ON s.semantic_memory_id = q.semantic_memory_id
                WHERE q.state = 'done' AND coalesce(e.embedding_version, s.embedding_version) <> $1
                LIMIT $2
                FOR UPDATE OF q SKIP LOCKED
            )
            UPDATE memory.embeddings_queue q
            SET state = 'pending', priority = 0, attempts = 0, last_error = NULL, enqueued_at = now(),
                next_attempt_at = now(), completed_at = NULL
            FROM outdated o WHERE q.job_id = o.job_id
            RETURNING q.job_id
            """,
            embedding_version,
            limit,
        )
        if rows:
            await notify(connection, CHANNEL, "")
    return len(rows)
