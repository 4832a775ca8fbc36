"""Memory blocks and their revision history (`memory.memory_blocks`, `memory.memory_block_revisions`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from cerebro.runtime.errors import aborted, already_exists, failed_precondition, invalid_argument, not_found
from cerebro.runtime.pagination import Key
from services.memory.db import Connection
from services.memory.identity_hash import BlockContent
from services.memory.store.idempotency import replayed_row

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


def _check_limit(value: str, char_limit: int) -> None:
    if len(value) > char_limit:
        raise invalid_argument([("block.value", f"is {len(value)} characters; the block's char_limit is {char_limit}")])


async def insert_block(connection: Connection, namespace: str, new: NewBlock) -> asyncpg.Record:
    _check_limit(new.value, new.char_limit)
    try:
        row = await connection.fetchrow(
            f"""INSERT INTO memory.memory_blocks AS b
                    (namespace, label, description, value, char_limit, read_only, request_id, request_digest)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (namespace, request_id) DO NOTHING
                RETURNING {COLUMNS}""",
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
    if row is None:
        assert new.request_id is not None and new.request_digest is not None
        return await replayed_row(
            connection,
            table="memory_blocks b",
            columns=COLUMNS,
            namespace=namespace,
            request_id=new.request_id,
            digest=new.request_digest,
            field="request_id",
        )
    return row


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


async def _lock_writable(
    connection: Connection, namespace: str, block_id: uuid.UUID, expected_version: int | None
) -> asyncpg.Record:
    """The block, locked for the change; FAILED_PRECONDITION if read-only, ABORTED on a version mismatch."""
    row = await connection.fetchrow(
        f"SELECT {COLUMNS} FROM memory.memory_blocks b WHERE b.namespace = $1 AND b.block_id = $2 FOR UPDATE",
        namespace,
        block_id,
    )
    if row is None:
        raise not_found("memory block", str(block_id))
    if row["read_only"]:
        raise failed_precondition(
            f"memory block {row['label']!r} is read-only", "READ_ONLY", f"memory_blocks/{block_id}"
        )
    if expected_version is not None and expected_version != row["version"]:
        raise aborted(f"memory block {row['label']!r} is at version {row['version']}, not {expected_version}")
    return row


async def update_block(
    connection: Connection,
    namespace: str,
    block_id: uuid.UUID,
    changes: BlockChanges,
    expected_version: int | None,
) -> asyncpg.Record:
    current = await _lock_writable(connection, namespace, block_id, expected_version)
    value = current["value"] if changes.value is None else changes.value
    char_limit = current["char_limit"] if changes.char_limit is None else changes.char_limit
    _check_limit(value, char_limit)
    description = current["description"] if changes.description is None else changes.description
    # The revision trigger records the new version in the history.
    row = await connection.fetchrow(
        f"""UPDATE memory.memory_blocks AS b
            SET description = $3, value = $4, char_limit = $5, version = b.version + 1, updated_at = now()
            WHERE b.namespace = $1 AND b.block_id = $2
            RETURNING {COLUMNS}""",
        namespace,
        block_id,
        description,
        value,
        char_limit,
    )
    assert row is not None  # the block is locked: it is still there
    return row


async def delete_block(
    connection: Connection, namespace: str, block_id: uuid.UUID, expected_version: int | None
) -> None:
    await _lock_writable(connection, namespace, block_id, expected_version)
    await connection.execute(
        "DELETE FROM memory.memory_blocks WHERE namespace = $1 AND block_id = $2", namespace, block_id
    )


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
