"""Namespaces (`memory.namespaces`): the agent instances that own memories. No row-level security here:
the table is the list of namespaces itself."""

from __future__ import annotations

import asyncpg

from cerebro.read_tokens import ReadToken
from cerebro.runtime.pagination import Key
from cerebro.runtime.read_tokens import note_write

COLUMNS = "name, display_name, created_at"


async def insert_namespace(pool: asyncpg.Pool, name: str, display_name: str) -> asyncpg.Record | None:
    """The new namespace's row; None when the name is taken. The write's read token goes to the caller."""
    row: asyncpg.Record | None = await pool.fetchrow(
        f"""INSERT INTO memory.namespaces (name, display_name) VALUES ($1, $2)
            ON CONFLICT (name) DO NOTHING
            RETURNING {COLUMNS}, pg_current_wal_insert_lsn() AS written_lsn, pg_current_xact_id() AS written_xid""",
        name,
        display_name,
    )
    if row is not None:
        note_write(ReadToken(row["written_lsn"], int(row["written_xid"])))
    return row


async def get_namespace(pool: asyncpg.Pool, name: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(f"SELECT {COLUMNS} FROM memory.namespaces WHERE name = $1", name)
    return row


async def list_namespaces(pool: asyncpg.Pool, *, after: Key | None, limit: int) -> list[asyncpg.Record]:
    """By name, starting after the key ``after`` (a name)."""
    return await pool.fetch(
        f"""SELECT {COLUMNS} FROM memory.namespaces
            WHERE $1::text IS NULL OR name > $1 ORDER BY name LIMIT $2""",
        None if after is None else after[0],
        limit,
    )
