"""Memory blocks and their revision history (`memory.memory_blocks`, `memory.memory_block_revisions`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from cerebro.runtime.errors import (
    ServiceError,
    aborted,
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
)
from cerebro.runtime.pagination import Key
from services.memory.db import Connection, MemoryDatabase, namespace_errors, note_written
from services.memory.identity_hash import BlockContent
from services.memory.store.idempotency import created_or_replayed

COLUMNS = """b.block_id, b.namespace, b.label, b.description, b.value, b.char_limit, b.read_only, b.version,
    b.created_at, b.updated_at"""


@dataclass(frozen=True)
class NewBlock:
    label: str
    description: str
    value: str
    char_limit: int
    read_only: bool
    request_id: uuid.UUID | None
    request_digest: bytes | None


@dataclass(frozen=True)
class BlockChanges:
    """New values of the fields named by an update mask; None for fields not being changed."""

    description: str | None = None
    value: str | None = None
    char_limit: int | None = None


def _too_long(value: str, char_limit: int) -> ServiceError:
    return invalid_argument([("block.value", f"is {len(value)} characters; the block's char_limit is {char_limit}")])


def _check_limit(value: str, char_limit: int) -> None:
    if len(value) > char_limit:
        raise _too_long(value, char_limit)


async def create_block(db: MemoryDatabase, namespace: str, new: NewBlock) -> asyncpg.Record:
    """Insert in one statement on the primary (memory.create_memory_block); an idempotent retry gets the
    earlier row."""
    _check_limit(new.value, new.char_limit)
    try:
        with namespace_errors(namespace):
            row = await db.primary.fetchrow(
                "SELECT * FROM memory.create_memory_block($1, $2, $3, $4, $5, $6, $7, $8)",
                namespace,
                new.label,
                new.description,
                new.value,
                new.char_limit,
                new.read_only,
                new.request_id,
                new.request_digest,
            )
    except asyncpg.UniqueViolationError:
        raise already_exists(
            "memory block", new.label, f"namespace {namespace!r} already has a block labelled {new.label!r}"
        ) from None
    created = created_or_replayed(row, new.request_id, new.request_digest)
    note_written(created)
    return created


async def get_block(
    connection: Connection, namespace: str, *, block_id: uuid.UUID | None = None, label: str | None = None
) -> asyncpg.Record:
    if block_id is not None:
        row = await connection.fetchrow(
            f"SELECT {COLUMNS} FROM memory.memory_blocks b WHERE b.namespace = $1 AND b.block_id = $2",
            namespace,
            block_id,
        )
    else:
        row = await connection.fetchrow(
            f"SELECT {COLUMNS} FROM memory.memory_blocks b WHERE b.namespace = $1 AND b.label = $2", namespace, label
        )
    if row is None:
        raise not_found("memory block", str(block_id) if block_id is not None else str(label))
    return row


async def list_blocks(connection: Connection, namespace: str, *, after: Key | None, limit: int) -> list[asyncpg.Record]:
    """By label, starting after the key ``after`` (a label)."""
    return await connection.fetch(
        f"""SELECT {COLUMNS} FROM memory.memory_blocks b
            WHERE b.namespace = $1 AND ($2::text IS NULL OR b.label > $2) ORDER BY b.label LIMIT $3""",
        namespace,
        None if after is None else after[0],
        limit,
    )


def _check_writable(block_id: uuid.UUID, row: asyncpg.Record | None, expected_version: int | None) -> asyncpg.Record:
    """The row of memory.update_memory_block or memory.delete_memory_block, unless the block is missing
    (NOT_FOUND), read-only (FAILED_PRECONDITION) or not at ``expected_version`` (ABORTED)."""
    if row is None:
        raise not_found("memory block", str(block_id))
    if row["outcome"] == "read_only":
        raise failed_precondition(
            f"memory block {row['label']!r} is read-only", "READ_ONLY", f"memory_blocks/{block_id}"
        )
    if row["outcome"] == "version_mismatch":
        raise aborted(f"memory block {row['label']!r} is at version {row['version']}, not {expected_version}")
    return row


async def update_block(
    db: MemoryDatabase,
    namespace: str,
    block_id: uuid.UUID,
    changes: BlockChanges,
    expected_version: int | None,
) -> asyncpg.Record:
    """Change the block in one statement on the primary (memory.update_memory_block locks it and checks
    that it may be changed); INVALID_ARGUMENT when its value would not fit its character limit."""
    with namespace_errors(namespace):
        row = await db.primary.fetchrow(
            "SELECT * FROM memory.update_memory_block($1, $2, $3, $4, $5, $6, $7)",
            namespace,
            block_id,
            expected_version,
            [changes.description is not None, changes.value is not None, changes.char_limit is not None],
            changes.description,
            changes.value,
            changes.char_limit,
        )
    row = _check_writable(block_id, row, expected_version)
    if row["outcome"] == "too_long":
        raise _too_long(
            row["value"] if changes.value is None else changes.value,
            row["char_limit"] if changes.char_limit is None else changes.char_limit,
        )
    note_written(row)
    return row


async def delete_block(db: MemoryDatabase, namespace: str, block_id: uuid.UUID, expected_version: int | None) -> None:
    """Delete in one statement on the primary (memory.delete_memory_block locks the block and checks that it
    may be deleted)."""
    with namespace_errors(namespace):
        row = await db.primary.fetchrow(
            "SELECT * FROM memory.delete_memory_block($1, $2, $3)", namespace, block_id, expected_version
        )
    note_written(_check_writable(block_id, row, expected_version))


async def list_revisions(
    connection: Connection, namespace: str, block_id: uuid.UUID, *, after: Key | None, limit: int
) -> list[asyncpg.Record]:
    """Newest version first, starting after the key ``after`` (a version)."""
    await get_block(connection, namespace, block_id=block_id)
    return await connection.fetch(
        """SELECT block_id, version, description, value, char_limit, created_at FROM memory.memory_block_revisions
           WHERE namespace = $1 AND block_id = $2 AND ($3::bigint IS NULL OR version < $3)
           ORDER BY version DESC LIMIT $4""",
        namespace,
        block_id,
        None if after is None else after[0],
        limit,
    )


async def block_contents(connection: Connection, namespace: str) -> list[BlockContent]:
    """What the namespace's identity consists of, for hashing."""
    rows = await connection.fetch(
        "SELECT label, description, value, char_limit, read_only FROM memory.memory_blocks WHERE namespace = $1",
        namespace,
    )
    return [
        BlockContent(row["label"], row["description"], row["value"], row["char_limit"], row["read_only"])
        for row in rows
    ]
