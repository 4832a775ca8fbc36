"""The embeddings queue as the worker sees it: claim with a lease, complete, fail, reclaim, re-embed.

A claim marks jobs `processing` with a claim token and a lease (`locked_until`). Only the holder of
the token can complete or fail them; a lease that runs out means the worker died, and the jobs go
back to `pending` (or `dead` once out of attempts). A vector is stored only if the row's content
still has the checksum of the text that was embedded, so a concurrent edit never gets a stale vector.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from pgvector import Vector


@dataclass(frozen=True)
class ClaimedJob:
    job_id: int
    episode_id: uuid.UUID | None
    semantic_memory_id: uuid.UUID | None
    text: str
    checksum: bytes
    attempts: int


@dataclass(frozen=True)
class Claim:
    token: uuid.UUID
    jobs: list[ClaimedJob]


@dataclass(frozen=True)
class FailureOutcome:
    retried: int
    dead: int


class EmbeddingQueue:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        worker_id: str,
        lease_seconds: float,
        max_attempts: int,
        backoff_base_seconds: float,
        backoff_max_seconds: float,
    ) -> None:
        self._pool = pool
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base_seconds
        self._backoff_max = backoff_max_seconds

    async def claim(self, limit: int) -> Claim:
        """Claim up to ``limit`` due jobs, highest priority first; other workers skip them."""
        token = uuid.uuid4()
        async with self._pool.acquire() as connection:
            claimed = await connection.fetch(
                """
                WITH candidates AS (
                    SELECT job_id FROM memory.embeddings_queue
                    WHERE state = 'pending' AND next_attempt_at <= now()
                    ORDER BY priority DESC, next_attempt_at, job_id
                    LIMIT $1
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE memory.embeddings_queue q
                SET state = 'processing', attempts = q.attempts + 1, claimed_at = now(),
                    locked_until = now() + make_interval(secs => $2), claimed_by = $3, claim_token = $4
                FROM candidates c
                WHERE q.job_id = c.job_id
                RETURNING q.job_id
                """,
                limit,
                self._lease_seconds,
                self._worker_id,
                token,
            )
            if not claimed:
                return Claim(token, [])
            # Read after the claim committed: the text and its checksum come from one row version.
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
                [row["job_id"] for row in claimed],
                token,
            )
        return Claim(
            token,
            [
                ClaimedJob(
                    row["job_id"],
                    row["episode_id"],
                    row["semantic_memory_id"],
                    row["text"],
                    row["checksum"],
                    row["attempts"],
                )
                for row in rows
            ],
        )

    async def extend_lease(self, claim: Claim) -> None:
        """Push the lease of a claim still being worked on further into the future."""
        await self._pool.execute(
            """UPDATE memory.embeddings_queue SET locked_until = now() + make_interval(secs => $2)
               WHERE claim_token = $1 AND state = 'processing'""",
            claim.token,
            self._lease_seconds,
        )

    async def complete(
        self, claim: Claim, jobs: Sequence[ClaimedJob], vectors: Sequence[Sequence[float]], embedding_version: str
    ) -> int:
        """Store each job's vector if its row's content is unchanged, and mark the jobs done; returns jobs done."""
        episodes = [(job, vector) for job, vector in zip(jobs, vectors, strict=True) if job.episode_id is not None]
        semantic = [
            (job, vector) for job, vector in zip(jobs, vectors, strict=True) if job.semantic_memory_id is not None
        ]
        async with self._pool.acquire() as connection, connection.transaction():
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
            # A job whose content changed meanwhile was reset by the trigger (new checksum, no token):
            # it is not ours to finish, and stays pending for the new content.
            done = await connection.fetch(
                """UPDATE memory.embeddings_queue
                   SET state = 'done', completed_at = now(), locked_until = NULL, claim_token = NULL, last_error = NULL
                   WHERE job_id = ANY($1::bigint[]) AND claim_token = $2 AND state = 'processing'
                   RETURNING job_id""",
                [job.job_id for job in jobs],
                claim.token,
            )
        return len(done)

    async def fail(self, claim: Claim, jobs: Sequence[ClaimedJob], error: str) -> FailureOutcome:
        """Count a failed attempt: retry later with exponential backoff and jitter, or dead after the last."""
        rows = await self._pool.fetch(
            """
            UPDATE memory.embeddings_queue
            SET state = CASE WHEN attempts >= $3 THEN 'dead' ELSE 'pending' END,
                completed_at = CASE WHEN attempts >= $3 THEN now() END,
                last_error = $4,
                next_attempt_at = now() + make_interval(
                    secs => least($5 * power(2, attempts - 1), $6) * (0.75 + random() * 0.5)),
                locked_until = NULL, claim_token = NULL, claimed_by = NULL, claimed_at = NULL
            WHERE job_id = ANY($1::bigint[]) AND claim_token = $2 AND state = 'processing'
            RETURNING state
            """,
            [job.job_id for job in jobs],
            claim.token,
            self._max_attempts,
            error,
            self._backoff_base,
            self._backoff_max,
        )
        dead = sum(1 for row in rows if row["state"] == "dead")
        return FailureOutcome(retried=len(rows) - dead, dead=dead)

    async def release(self, claim: Claim, error: str) -> int:
        """Give a claim back without counting the attempt (the Embedder was down, not the job's fault)."""
        return len(
            await self._pool.fetch(
                """UPDATE memory.embeddings_queue
                   SET state = 'pending', attempts = attempts - 1, last_error = $2, next_attempt_at = now(),
                       locked_until = NULL, claim_token = NULL, claimed_by = NULL, claimed_at = NULL
                   WHERE claim_token = $1 AND state = 'processing'
                   RETURNING job_id""",
                claim.token,
                error,
            )
        )

    async def reclaim_expired(self) -> FailureOutcome:
        """Jobs whose lease ran out (their worker died) go back to pending, or dead if out of attempts."""
        rows = await self._pool.fetch(
            """
            UPDATE memory.embeddings_queue
            SET state = CASE WHEN attempts >= $1 THEN 'dead' ELSE 'pending' END,
                completed_at = CASE WHEN attempts >= $1 THEN now() END,
                last_error = 'lease of ' || coalesce(claimed_by, 'a worker') || ' expired at ' || locked_until::text,
                next_attempt_at = now(),
                locked_until = NULL, claim_token = NULL, claimed_by = NULL, claimed_at = NULL
            WHERE state = 'processing' AND locked_until < now()
            RETURNING state
            """,
            self._max_attempts,
        )
        dead = sum(1 for row in rows if row["state"] == "dead")
        return FailureOutcome(retried=len(rows) - dead, dead=dead)

    async def pending_count(self) -> int:
        return await self._pool.fetchval("SELECT count(*) FROM memory.embeddings_queue WHERE state = 'pending'")

    async def requeue_outdated(self, embedding_version: str, limit: int) -> int:
        """Put up to ``limit`` done jobs whose stored vector has another version back in the queue, lowest priority."""
        rows = await self._pool.fetch(
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
            await self._pool.execute("SELECT pg_notify('cerebro_embeddings', '')")
        return len(rows)
