"""Consciousness checkpoints (`memory.checkpoints`): state plus the identity it was taken with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from cerebro.runtime.errors import not_found
from cerebro.runtime.pagination import Key
from services.memory.db import Connection, MemoryDatabase, namespace_errors, note_written
from services.memory.identity_hash import Continuity, continuity, identity_of
from services.memory.store.blocks import block_contents
from services.memory.store.idempotency import created_or_replayed

COLUMNS = """c.checkpoint_id, c.namespace, c.checkpoint_type, c.state_data, c.identity_hash, c.block_digests,
    c.metadata, c.created_at"""


@dataclass(frozen=True)
class NewCheckpoint:
    checkpoint_type: str
    state_data: dict[str, Any]
    metadata: dict[str, Any]
    request_id: uuid.UUID | None
    request_digest: bytes | None


async def create_checkpoint(db: MemoryDatabase, namespace: str, new: NewCheckpoint) -> asyncpg.Record:
    """Store the checkpoint with the identity of the namespace's blocks as they are in the same transaction,
    in one statement on the primary (memory.create_checkpoint hashes them as identity_hash.py does); an
    idempotent retry gets the earlier row."""
    with namespace_errors(namespace):
        row = await db.primary.fetchrow(
            "SELECT * FROM memory.create_checkpoint($1, $2, $3, $4, $5, $6)",
            namespace,
            new.checkpoint_type,
            new.state_data,
            new.metadata,
            new.request_id,
            new.request_digest,
        )
    created = created_or_replayed(row, new.request_id, new.request_digest)
    note_written(created)
    return created


async def get_checkpoint(connection: Connection, namespace: str, checkpoint_id: uuid.UUID | None) -> asyncpg.Record:
    """The checkpoint ``checkpoint_id``, or the namespace's latest when it is None."""
    if checkpoint_id is None:
        row = await connection.fetchrow(
            f"""SELECT {COLUMNS} FROM memory.checkpoints c WHERE c.namespace = $1
                ORDER BY c.created_at DESC, c.checkpoint_id DESC LIMIT 1""",
            namespace,
        )
        if row is None:
            raise not_found("checkpoint", f"latest of namespace {namespace}")
        return row
    row = await connection.fetchrow(
        f"SELECT {COLUMNS} FROM memory.checkpoints c WHERE c.namespace = $1 AND c.checkpoint_id = $2",
        namespace,
        checkpoint_id,
    )
    if row is None:
        raise not_found("checkpoint", str(checkpoint_id))
    return row


async def list_checkpoints(
    connection: Connection,
    namespace: str,
    checkpoint_type: str | None,
    *,
    after: Key | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first by (created_at, checkpoint_id), starting after the key ``after``."""
    return await connection.fetch(
        f"""SELECT {COLUMNS} FROM memory.checkpoints c
            WHERE c.namespace = $1 AND ($2::text IS NULL OR c.checkpoint_type = $2)
              AND ($3::timestamptz IS NULL OR (c.created_at, c.checkpoint_id) < ($3, $4::uuid))
            ORDER BY c.created_at DESC, c.checkpoint_id DESC LIMIT $5""",
        namespace,
        checkpoint_type,
        None if after is None else after[0],
        None if after is None else after[1],
        limit,
    )


async def continuity_since(connection: Connection, namespace: str, checkpoint: asyncpg.Record) -> Continuity:
    """How much of the identity recorded by ``checkpoint`` is unchanged now."""
    now = identity_of(await block_contents(connection, namespace))
    return continuity(checkpoint["block_digests"], now.block_digests)
