"""Task assignments on PostgreSQL: the record of every choice, which is also each instance's load."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

# Assignments are made one at a time across all replicas, so each sees the load the previous added.
_ASSIGNMENT_LOCK = int.from_bytes(hashlib.sha256(b"cerebro-gateway-task-assignment").digest()[:8], "big", signed=True)

_COLUMNS = """task_id, request_id, request_sha256, description, required_capabilities, instance, matched_capabilities,
    missing_capabilities, in_preferred_region, load, candidate_count, reason, assigned_at"""


def request_digest(description: str, required: Sequence[str], preferred_region: str) -> bytes:
    canonical = json.dumps([description, list(required), preferred_region], separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).digest()


class TaskStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def find(self, requester: str, request_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM gateway.task_assignments WHERE requester = $1 AND request_id = $2",
            requester,
            request_id,
        )

    @asynccontextmanager
    async def assigning(self) -> AsyncIterator[Assigning]:
        """A transaction holding the assignment lock."""
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _ASSIGNMENT_LOCK)
            yield Assigning(connection)


class Assigning:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def loads(self, instance_ids: Sequence[str], window_seconds: float) -> dict[str, int]:
        """Tasks assigned to each instance within the last ``window_seconds``."""
        rows = await self._connection.fetch(
            """SELECT instance_id::text AS instance_id, count(*) AS load FROM gateway.task_assignments
               WHERE instance_id = ANY($1::uuid[]) AND assigned_at > now() - make_interval(secs => $2)
               GROUP BY instance_id""",
            list(instance_ids),
            window_seconds,
        )
        return {row["instance_id"]: row["load"] for row in rows}

    async def record(
        self,
        *,
        requester: str,
        request_id: uuid.UUID,
        digest: bytes,
        description: str,
        required: Sequence[str],
        instance_id: str,
        instance: bytes,
        matched: Sequence[str],
        missing: Sequence[str],
        in_preferred_region: bool,
        load: int,
        candidate_count: int,
        reason: str,
    ) -> asyncpg.Record:
        """The new assignment, or the one an earlier request with the same id made."""
        row = await self._connection.fetchrow(
            f"""INSERT INTO gateway.task_assignments (task_id, requester, request_id, request_sha256, description,
                    required_capabilities, instance_id, instance, matched_capabilities, missing_capabilities,
                    in_preferred_region, load, candidate_count, reason)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                ON CONFLICT (requester, request_id) DO NOTHING RETURNING {_COLUMNS}""",
            uuid.uuid4(),
            requester,
            request_id,
            digest,
            description,
            list(required),
            uuid.UUID(instance_id),
            instance,
            list(matched),
            list(missing),
            in_preferred_region,
            load,
            candidate_count,
            reason,
        )
        if row is None:
            row = await self._connection.fetchrow(
                f"SELECT {_COLUMNS} FROM gateway.task_assignments WHERE requester = $1 AND request_id = $2",
                requester,
                request_id,
            )
        return row
