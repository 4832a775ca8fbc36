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
from services.memory.db import Connection, MemoryDatabase, namespace_errors, note_written
from services.memory.store.filters import Conditions
from services.memory.store.idempotency import created_or_replayed

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


def _ttl_seconds(ttl: timedelta) -> int:
    return max(1, round(ttl.total_seconds()))


async def create_item(db: MemoryDatabase, namespace: str, new: NewItem) -> asyncpg.Record:
    """Insert in one statement on the primary (memory.create_working_memory_item); an idempotent retry gets
    the earlier row."""
    with namespace_errors(namespace):
        row = await db.primary.fetchrow(
            "SELECT * FROM memory.create_working_memory_item($1, $2, $3, $4, $5, $6, $7, $8)",
            namespace,
            new.context_type,
            new.content,
            new.priority,
            _ttl_seconds(new.ttl),
            new.ttl,
            new.request_id,
            new.request_digest,
        )
    created = created_or_replayed(row, new.request_id, new.request_digest)
    note_written(created)
    return created


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


async def update_item(db: MemoryDatabase, namespace: str, item_id: uuid.UUID, changes: ItemChanges) -> asyncpg.Record:
    """Change an unexpired item in one statement on the primary (memory.update_working_memory_item); its
    version goes up by one."""
    with namespace_errors(namespace):
        row = await db.primary.fetchrow(
            "SELECT * FROM memory.update_working_memory_item($1, $2, $3, $4, $5, $6, $7)",
            namespace,
            item_id,
            [changes.content is not None, changes.priority is not None, changes.ttl is not None],
            changes.content,
            changes.priority,
            None if changes.ttl is None else _ttl_seconds(changes.ttl),
            changes.ttl,
        )
    if row is None:
        raise not_found("working memory item", str(item_id))
    note_written(row)
    return row


async def delete_item(db: MemoryDatabase, namespace: str, item_id: uuid.UUID) -> None:
    """Delete an unexpired item in one statement on the primary (memory.delete_working_memory_item)."""
    with namespace_errors(namespace):
        row = await db.primary.fetchrow("SELECT * FROM memory.delete_working_memory_item($1, $2)", namespace, item_id)
    assert row is not None  # the function returns one row
    if not row["deleted"]:
        raise not_found("working memory item", str(item_id))
    note_written(row)


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
