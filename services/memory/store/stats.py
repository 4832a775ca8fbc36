"""The figures of GetStats for one namespace, read in one consistent snapshot."""

from __future__ import annotations

import asyncpg

from services.memory.db import Connection


async def namespace_stats(connection: Connection, namespace: str) -> asyncpg.Record:
    row = await connection.fetchrow(
        """
        SELECT
            (SELECT count(*) FROM memory.episodes WHERE namespace = $1) AS episodes_total,
            (SELECT count(*) FROM memory.episode_vectors WHERE namespace = $1) AS episodes_embedded,
            q.pending, q.processing, q.dead, q.oldest_pending,
            (SELECT count(*) FROM memory.semantic_memories WHERE namespace = $1) AS semantic_memories_total,
            (SELECT count(*) FROM memory.working_memory WHERE namespace = $1 AND expires_at > now())
                AS working_memory_items,
            (SELECT count(*) FROM memory.memory_blocks WHERE namespace = $1) AS memory_blocks,
            (SELECT count(*) FROM memory.projects WHERE namespace = $1) AS projects,
            (SELECT count(*) FROM memory.checkpoints WHERE namespace = $1) AS checkpoints,
            c.checkpoint_type AS last_checkpoint_type, c.created_at AS last_checkpoint_at,
            (SELECT last_heartbeat_at FROM memory.consciousness_states WHERE namespace = $1) AS last_heartbeat_at,
            now() AS measured_at
        FROM (
            SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
                   count(*) FILTER (WHERE state = 'processing') AS processing,
                   count(*) FILTER (WHERE state = 'dead') AS dead,
                   min(enqueued_at) FILTER (WHERE state = 'pending') AS oldest_pending
            FROM memory.embeddings_queue WHERE namespace = $1
        ) AS q
        LEFT JOIN LATERAL (
            SELECT checkpoint_type, created_at FROM memory.checkpoints WHERE namespace = $1
            ORDER BY created_at DESC, checkpoint_id DESC LIMIT 1
        ) AS c ON true
        """,
        namespace,
    )
    assert row is not None  # scalar subqueries make one row
    return row
