"""Semantic memory in PostgreSQL: `memory.semantic_memories` (embeddings enqueued by triggers)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from cerebro.runtime.errors import not_found
from cerebro.runtime.pagination import Key
from services.memory.db import Connection, MemoryDatabase, namespace_errors, note_written
from services.memory.store.idempotency import created_or_replayed

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


async def create_semantic_memory(db: MemoryDatabase, namespace: str, new: NewSemanticMemory) -> asyncpg.Record:
    """Insert in one statement on the primary (memory.create_semantic_memory; a trigger enqueues its
    embedding); an idempotent retry gets the earlier row."""
    with namespace_errors(namespace):
        row = await db.primary.fetchrow(
            "SELECT * FROM memory.create_semantic_memory($1, $2, $3, $4, $5, $6, $7, $8)",
            namespace,
            new.concept,
            new.definition,
            new.relationships,
            new.confidence,
            new.source_episode_ids,
            new.request_id,
            new.request_digest,
        )
    created = created_or_replayed(row, new.request_id, new.request_digest)
    note_written(created)
    return created


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
    db: MemoryDatabase, namespace: str, semantic_memory_id: uuid.UUID, changes: SemanticMemoryChanges
) -> asyncpg.Record:
    """Change the fields in ``changes`` in one statement on the primary (memory.update_semantic_memory; a
    trigger re-enqueues the embedding when the text changed)."""
    with namespace_errors(namespace):
        row = await db.primary.fetchrow(
            "SELECT * FROM memory.update_semantic_memory($1, $2, $3, $4, $5, $6, $7, $8)",
            namespace,
            semantic_memory_id,
            [
                changes.concept is not None,
                changes.definition is not None,
                changes.relationships is not None,
                changes.confidence is not None,
                changes.source_episode_ids is not None,
            ],
            changes.concept,
            changes.definition,
            changes.relationships,
            changes.confidence,
            changes.source_episode_ids,
        )
    if row is None:
        raise not_found("semantic memory", str(semantic_memory_id))
    note_written(row)
    return row


async def delete_semantic_memory(db: MemoryDatabase, namespace: str, semantic_memory_id: uuid.UUID) -> None:
    """Delete in one statement on the primary (memory.delete_semantic_memory)."""
    with namespace_errors(namespace):
        row = await db.primary.fetchrow(
            "SELECT * FROM memory.delete_semantic_memory($1, $2)", namespace, semantic_memory_id
        )
    assert row is not None  # the function returns one row
    if not row["deleted"]:
        raise not_found("semantic memory", str(semantic_memory_id))
    note_written(row)
