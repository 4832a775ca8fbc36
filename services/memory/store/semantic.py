"""Semantic memory in PostgreSQL: `memory.semantic_memories` (embeddings enqueued by triggers)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from cerebro.runtime.errors import not_found
from cerebro.runtime.pagination import Key
from services.memory.db import Connection
from services.memory.store.filters import Conditions
from services.memory.store.idempotency import replayed_row

COLUMNS = """e.semantic_memory_id, e.namespace, e.concept, e.definition, e.relationships, e.confidence,
    e.source_episode_ids, e.created_at, e.updated_at,
    (SELECT v.embedding_version FROM memory.semantic_memory_vectors v
     WHERE v.semantic_memory_id = e.semantic_memory_id) AS embedding_version,
    (SELECT q.state FROM memory.embeddings_queue q WHERE q.semantic_memory_id = e.semantic_memory_id) AS job_state"""


@dataclass(frozen=True)
class NewSemanticMemory:
    concept: str
    definition: str
    relationships: dict[str, Any]
    confidence: float
    source_episode_ids: list[uuid.UUID]
    request_id: uuid.UUID | None
    request_digest: bytes | None


@dataclass(frozen=True)
class SemanticMemoryChanges:
    """New values of the fields named by an update mask; None for fields not being changed."""

    concept: str | None = None
    definition: str | None = None
    relationships: dict[str, Any] | None = None
    confidence: float | None = None
    source_episode_ids: list[uuid.UUID] | None = None


async def insert_semantic_memory(connection: Connection, namespace: str, new: NewSemanticMemory) -> asyncpg.Record:
    inserted = await connection.fetchval(
        """INSERT INTO memory.semantic_memories
               (namespace, concept, definition, relationships, confidence, source_episode_ids,
                request_id, request_digest)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (namespace, request_id) DO NOTHING
           RETURNING semantic_memory_id""",
        namespace,
        new.concept,
        new.definition,
        new.relationships,
        new.confidence,
        new.source_episode_ids,
        new.request_id,
        new.request_digest,
    )
    if inserted is None:
        assert new.request_id is not None and new.request_digest is not None
        return await replayed_row(
            connection,
            table="semantic_memories e",
            columns=COLUMNS,
            namespace=namespace,
            request_id=new.request_id,
            digest=new.request_digest,
            field="request_id",
        )
    return await get_semantic_memory(connection, namespace, inserted)


async def get_semantic_memory(connection: Connection, namespace: str, semantic_memory_id: uuid.UUID) -> asyncpg.Record:
    row = await connection.fetchrow(
        f"SELECT {COLUMNS} FROM memory.semantic_memories e WHERE e.namespace = $1 AND e.semantic_memory_id = $2",
        namespace,
        semantic_memory_id,
    )
    if row is None:
        raise not_found("semantic memory", str(semantic_memory_id))
    return row


async def list_semantic_memories(
    connection: Connection, namespace: str, *, after: Key | None, limit: int, concept: str | None = None
) -> list[asyncpg.Record]:
    """Newest first by (created_at, semantic_memory_id), starting after the key ``after``; only those of
    ``concept`` (ignoring case) when given (index semantic_memories_concept_idx)."""
    return await connection.fetch(
        f"""SELECT {COLUMNS} FROM memory.semantic_memories e
            WHERE e.namespace = $1
              AND ($2::timestamptz IS NULL OR (e.created_at, e.semantic_memory_id) < ($2, $3::uuid))
              AND ($5::text IS NULL OR lower(e.concept) = lower($5))
            ORDER BY e.created_at DESC, e.semantic_memory_id DESC LIMIT $4""",
        namespace,
        None if after is None else after[0],
        None if after is None else after[1],
        limit,
        concept,
    )


async def update_semantic_memory(
    connection: Connection, namespace: str, semantic_memory_id: uuid.UUID, changes: SemanticMemoryChanges
) -> asyncpg.Record:
    conditions = Conditions([namespace, semantic_memory_id])
    assignments = ["updated_at = now()"]
    if changes.concept is not None:
        assignments.append(f"concept = {conditions.param(changes.concept)}")
    if changes.definition is not None:
        assignments.append(f"definition = {conditions.param(changes.definition)}")
    if changes.relationships is not None:
        assignments.append(f"relationships = {conditions.param(changes.relationships)}::jsonb")
    if changes.confidence is not None:
        assignments.append(f"confidence = {conditions.param(changes.confidence)}")
    if changes.source_episode_ids is not None:
        assignments.append(f"source_episode_ids = {conditions.param(changes.source_episode_ids)}::uuid[]")
    updated = await connection.fetchval(
        f"""UPDATE memory.semantic_memories SET {", ".join(assignments)}
            WHERE namespace = $1 AND semantic_memory_id = $2 RETURNING semantic_memory_id""",
        *conditions.args,
    )
    if updated is None:
        raise not_found("semantic memory", str(semantic_memory_id))
    return await get_semantic_memory(connection, namespace, semantic_memory_id)


async def delete_semantic_memory(connection: Connection, namespace: str, semantic_memory_id: uuid.UUID) -> None:
    deleted = await connection.fetchval(
        """DELETE FROM memory.semantic_memories WHERE namespace = $1 AND semantic_memory_id = $2
           RETURNING semantic_memory_id""",
        namespace,
        semantic_memory_id,
    )
    if deleted is None:
        raise not_found("semantic memory", str(semantic_memory_id))
