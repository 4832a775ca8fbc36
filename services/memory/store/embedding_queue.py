"""The embeddings queue (`memory.embeddings_queue`, migration 0002): what a job is, and storing its vector.

Claiming, leases, retries, dead letters and reclaiming are the kit's :class:`LeasedQueue` over this
table (:data:`EMBEDDINGS_QUEUE`); what is memory's own is here. A claimed job's text and checksum are
read after the claim, from one row version. A vector is stored only if the row's content still has
the checksum of the text that was embedded, so a concurrent edit never gets a stale vector: the edit
reset the job (new checksum, no claim token), and it stays pending for the new content. Vectors live in
tables of their own (`memory.episode_vectors`, `memory.semantic_memory_vectors`, migration 0008).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pgvector import Vector

from cerebro.runtime.leased_queue import Claim, JobTable
from cerebro.runtime.notifications import notify
from services.memory.db import Connection

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


async def claimed_jobs(connection: Connection, claim: Claim) -> list[ClaimedJob]:
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


# Per kind of subject: its table, its vector table (migration 0008) and their id column. Constants only.
SUBJECTS = (
    ("memory.episodes", "memory.episode_vectors", "episode_id"),
    ("memory.semantic_memories", "memory.semantic_memory_vectors", "semantic_memory_id"),
)


async def store_vectors(
    connection: Connection,
    completed: Sequence[tuple[ClaimedJob, Sequence[float]]],
    embedding_version: str,
) -> None:
    """Each completed job's vector, if its row's content is still the text that was embedded.

    One INSERT per kind of subject, into the narrow vector table: the subject's own row is not written.
    """
    # A job names its row by the attribute of the row's id column (episode_id or semantic_memory_id).
    for table, vector_table, id_column in SUBJECTS:
        rows = [
            (getattr(job, id_column), job.checksum, Vector(list(vector)))
            for job, vector in completed
            if getattr(job, id_column) is not None
        ]
        if rows:
            ids, checksums, embeddings = zip(*rows, strict=True)
            await connection.execute(
                f"""INSERT INTO {vector_table} AS t ({id_column}, namespace, embedding, embedding_version)
                    SELECT e.{id_column}, e.namespace, v.embedding, $4
                    FROM unnest($1::uuid[], $2::bytea[], $3::vector[]) AS v(id, checksum, embedding)
                    JOIN {table} e ON e.{id_column} = v.id AND e.content_checksum = v.checksum
                    ON CONFLICT ({id_column}) DO UPDATE
                        SET embedding = EXCLUDED.embedding, embedding_version = EXCLUDED.embedding_version,
                            embedded_at = now()""",
                list(ids),
                list(checksums),
                list(embeddings),
                embedding_version,
            )


async def requeue_outdated(connection: Connection, embedding_version: str, limit: int) -> int:
    """Put up to ``limit`` done jobs whose stored vector has another version back in the queue, lowest priority."""
    async with connection.transaction():
        rows = await connection.fetch(
            """
            WITH outdated AS (
                SELECT q.job_id FROM memory.embeddings_queue q
                LEFT JOIN memory.episode_vectors e ON e.episode_id = q.episode_id
                LEFT JOIN memory.semantic_memory_vectors s ON s.semantic_memory_id = q.semantic_memory_id
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
