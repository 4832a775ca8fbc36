"""Idempotent creates: a client request id maps to the row its first request created."""

from __future__ import annotations

import uuid

import asyncpg

from cerebro.runtime.errors import already_exists
from services.memory.db import Connection


async def replayed_row(
    connection: Connection,
    *,
    table: str,
    columns: str,
    namespace: str,
    request_id: uuid.UUID,
    digest: bytes,
    field: str,
) -> asyncpg.Record:
    """The row an earlier create with ``request_id`` stored; ALREADY_EXISTS if that request differed.

    ``table`` and ``columns`` are constants of the calling store, never client input.
    """
    row = await connection.fetchrow(
        f"SELECT {columns}, request_digest FROM memory.{table} WHERE namespace = $1 AND request_id = $2",
        namespace,
        request_id,
    )
    if row is None:
        # The first request's row was deleted after it was created: the id cannot be reused.
        raise already_exists("request", str(request_id), f"{field} {request_id} was already used")
    if row["request_digest"] != digest:
        raise already_exists(
            "request", str(request_id), f"{field} {request_id} was already used for a different request"
        )
    return row
