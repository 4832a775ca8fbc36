"""Idempotent creates: a client request id maps to the row its first request created."""

from __future__ import annotations

import uuid

import asyncpg

from cerebro.runtime.errors import already_exists


def created_or_replayed(
    row: asyncpg.Record | None, request_id: uuid.UUID | None, digest: bytes | None, *, field: str = "request_id"
) -> asyncpg.Record:
    """The row a create function of migration 0011 returned: the new one, or the one an earlier create with
    ``request_id`` stored (``created`` false); ALREADY_EXISTS if that request differed or its row is gone."""
    if row is None:
        # The first request's row was deleted after it was created: the id cannot be reused.
        raise already_exists("request", str(request_id), f"{field} {request_id} was already used")
    if not row["created"] and row["request_digest"] != digest:
        raise already_exists(
            "request", str(request_id), f"{field} {request_id} was already used for a different request"
        )
    return row
