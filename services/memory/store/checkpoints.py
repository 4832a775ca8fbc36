"""Consciousness checkpoints (`memory.checkpoints`): state plus the identity it was taken with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from cerebro.runtime.errors import not_found
from cerebro.runtime.pagination import Key
from services.memory.db import Connection
from services.memory.identity_hash import Continuity, continuity, identity_of
from services.memory.store.blocks import block_contents
from services.memory.store.idempotency import replayed_row

COLUMNS = """c.checkpoint_id, c.namespace, c.checkpoint_type, c.state_data, c.identity_hash, c.block_digests,
    c.metadata, c.created_at"""


@dataclass(frozen=True)
class NewCheckpoint:
    checkpoint_type: str
    state_data: dict[str, Any]
    metadata: dict[str, Any]
    request_id: uuid.UUID | None
    request_digest: bytes | None


async def insert_checkpoint(connection: Connection, namespace: str, new: NewCheckpoint) -> asyncpg.Record:
    """Hash the namespace's blocks as they are in this transaction and store the checkpoint with it."""
    identity = identity_of(await block_contents(connection, namespace))
    row = await connection.fetchrow(
        f"""INSERT INTO memory.checkpoints AS c
                (namespace, checkpoint_type, state_data, identity_hash, block_digests, metadata,
                 request_id, request_digest)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (namespace, request_id) DO NOTHING
            RETURNING {COLUMNS}""",
        namespace,
        new.checkpoint_type,
        new.state_data,
        identity.identity_hash,
        identity.block_digests,
        new.metadata,
        new.request_id,
        new.request_digest,
    )
    if row is None:
        assert new.request_id is not None and new.request_digest is not None
        return await replayed_row(
            connection,
            table="checkpoints c",
            columns=COLUMNS,
            namespace=namespace,
            request_id=new.request_id,
            digest=new.request_digest,
            field="request_id",
        )
    return row


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
