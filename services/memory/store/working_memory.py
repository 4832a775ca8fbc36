"""Working memory in PostgreSQL, the source of truth: `memory.working_memory`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from cerebro.memory.v1 import working_memory_pb2
from cerebro.runtime.errors import not_found
from cerebro.runtime.pagination import Key
from services.memory.convert import struct, timestamp
from services.memory.db import Connection
from services.memory.store.filters import Conditions
from services.memory.store.idempotency import replayed_row

COLUMNS = """w.item_id, w.namespace, w.context_type, w.content, w.priority, w.expires_at, w.created_at,
    w.updated_at, w.version"""

PRIORITIES = {
    working_memory_pb2.WORKING_MEMORY_PRIORITY_CRITICAL: "critical",
    working_memory_pb2.WORKING_MEMORY_PRIORITY_HIGH: "high",
    working_memory_pb2.WORKING_MEMORY_PRIORITY_NORMAL: "normal",
    working_memory_pb2.WORKING_MEMORY_PRIORITY_LOW: "low",
}
PRIORITY_VALUES = {name: value for value, name in PRIORITIES.items()}


@dataclass(frozen=True)
class NewItem:
    context_type: str
    content: dict[str, Any]
    priority: str
    ttl: timedelta
    request_id: uuid.UUID | None
    request_digest: bytes | None


@dataclass(frozen=True)
class ItemChanges:
    """New values of the fields named by an update mask; None for fields not being changed."""

    content: dict[str, Any] | None = None
    priority: str | None = None
    ttl: timedelta | None = None


def item_message(row: asyncpg.Record) -> working_memory_pb2.WorkingMemoryItem:
    """The message of a row: what the API returns and what the Redis cache holds."""
    return working_memory_pb2.WorkingMemoryItem(
        item_id=str(row["item_id"]),
        namespace=row["namespace"],
        context_type=row["context_type"],
        content=struct(row["content"], f"working memory item {row['item_id']} content"),
        priority=PRIORITY_VALUES[row["priority"]],
        expire_time=timestamp(row["expires_at"]),
        create_time=timestamp(row["created_at"]),
        update_time=timestamp(row["updated_at"]),
        version=row["version"],
    )


async def insert_item(connection: Connection, namespace: str, new: NewItem) -> asyncpg.Record:
    row = await connection.fetchrow(
        f"""INSERT INTO memory.working_memory AS w
                (namespace, context_type, content, priority, ttl_seconds, expires_at, request_id, request_digest)
            VALUES ($1, $2, $3, $4, $5, now() + $6::interval, $7, $8)
            ON CONFLICT (namespace, request_id) DO NOTHING
            RETURNING {COLUMNS}""",
        namespace,
        new.context_type,
        new.content,
        new.priority,
        max(1, round(new.ttl.total_seconds())),
        new.ttl,
        new.request_id,
        new.request_digest,
    )
    if row is None:
        assert new.request_id is not None and new.request_digest is not None
        return await replayed_row(
            connection,
            table="working_memory w",
            columns=COLUMNS,
            namespace=namespace,
            request_id=new.request_id,
            digest=new.request_digest,
            field="request_id",
        )
    return row


async def get_item(connection: Connection, namespace: str, item_id: uuid.UUID) -> asyncpg.Record:
    row = await connection.fetchrow(
        f"""SELECT {COLUMNS} FROM memory.working_memory w
            WHERE w.namespace = $1 AND w.item_id = $2 AND w.expires_at > now()""",
        namespace,
        item_id,
    )
    if row is None:
        raise not_found("working memory item", str(item_id))
    return row


async def list_items(
    connection: Connection,
    namespace: str,
    context_type: str | None,
    *,
    after: Key | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Unexpired items, newest first by (created_at, item_id), starting after the key ``after``."""
    conditions = Conditions([namespace])
    conditions.add("w.namespace = $1 AND w.expires_at > now()")
    if context_type:
        conditions.add(f"w.context_type = {conditions.param(context_type)}")
    if after is not None:
        conditions.add(f"(w.created_at, w.item_id) < ({conditions.param(after[0])}, {conditions.param(after[1])})")
    return await connection.fetch(
        f"""SELECT {COLUMNS} FROM memory.working_memory w WHERE {conditions.sql()}
            ORDER BY w.created_at DESC, w.item_id DESC LIMIT {conditions.param(limit)}""",
        *conditions.args,
    )


async def update_item(
    connection: Connection, namespace: str, item_id: uuid.UUID, changes: ItemChanges
) -> asyncpg.Record:
    conditions = Conditions([namespace, item_id])
    assignments = ["updated_at = now()", "version = w.version + 1"]
    if changes.content is not None:
        assignments.append(f"content = {conditions.param(changes.content)}::jsonb")
    if changes.priority is not None:
        assignments.append(f"priority = {conditions.param(changes.priority)}")
    if changes.ttl is not None:
        assignments.append(f"ttl_seconds = {conditions.param(max(1, round(changes.ttl.total_seconds())))}")
        assignments.append(f"expires_at = now() + {conditions.param(changes.ttl)}::interval")
    row = await connection.fetchrow(
        f"""UPDATE memory.working_memory AS w SET {", ".join(assignments)}
            WHERE w.namespace = $1 AND w.item_id = $2 AND w.expires_at > now()
            RETURNING {COLUMNS}""",
        *conditions.args,
    )
    if row is None:
        raise not_found("working memory item", str(item_id))
    return row


async def delete_item(connection: Connection, namespace: str, item_id: uuid.UUID) -> None:
    deleted = await connection.fetchval(
        """DELETE FROM memory.working_memory WHERE namespace = $1 AND item_id = $2 AND expires_at > now()
           RETURNING item_id""",
        namespace,
        item_id,
    )
    if deleted is None:
        raise not_found("working memory item", str(item_id))


async def unexpired_page(connection: Connection, *, after: uuid.UUID | None, limit: int) -> list[asyncpg.Record]:
    """All namespaces' unexpired items in item_id order (the reconciliation worker's walk)."""
    return await connection.fetch(
        f"""SELECT {COLUMNS} FROM memory.working_memory w
            WHERE w.expires_at > now() AND ($1::uuid IS NULL OR w.item_id > $1)
            ORDER BY w.item_id LIMIT $2""",
        after,
        limit,
    )


async def current_versions(connection: Connection, item_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Version of each of ``item_ids`` that exists and has not expired."""
    rows = await connection.fetch(
        "SELECT item_id, version FROM memory.working_memory WHERE item_id = ANY($1::uuid[]) AND expires_at > now()",
        item_ids,
    )
    return {row["item_id"]: row["version"] for row in rows}


async def delete_expired(connection: Connection, batch_size: int) -> int:
    """Delete up to ``batch_size`` expired items (through a function: the worker role cannot DELETE)."""
    deleted: int = await connection.fetchval("SELECT memory.delete_expired_working_memory($1)", batch_size)
    return deleted
