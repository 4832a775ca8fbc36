"""Cross-learning on PostgreSQL: publications, durable subscriptions, and one delivery row per receiver.

Publishing inserts the learning and, in the same transaction, a delivery for every subscribed
namespace but the publisher's (an outbox), then notifies. Any gateway replica then stores each
delivery as semantic memory in its receiver's namespace (:mod:`services.gateway.learning_storer`),
and the replica holding the receiver's stream sends it until the receiver acknowledges it. Everything
lives in PostgreSQL, so a gateway restart or a second replica loses and duplicates nothing: the
learning id is the primary key of a learning, and (namespace, learning id) of a delivery.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from cerebro.runtime.errors import already_exists
from services.gateway.notifications import LEARNINGS_CHANNEL, notify


@dataclass(frozen=True)
class LearningRecord:
    learning_id: uuid.UUID
    publisher: str
    concept: str
    definition: str
    relationships: dict[str, Any]
    confidence: float | None
    published_at: datetime


@dataclass(frozen=True)
class Delivery:
    """A learning stored in a receiver's namespace, ready to be sent."""

    sequence: int
    learning: LearningRecord
    semantic_memory_id: uuid.UUID


@dataclass(frozen=True)
class UnstoredDelivery:
    """A learning to store in ``namespace``, claimed by this replica."""

    namespace: str
    learning: LearningRecord
    attempts: int


_LEARNING_COLUMNS = "l.learning_id, l.publisher, l.concept, l.definition, l.relationships, l.confidence, l.published_at"


def _record(row: asyncpg.Record) -> LearningRecord:
    return LearningRecord(
        learning_id=row["learning_id"],
        publisher=row["publisher"],
        concept=row["concept"],
        definition=row["definition"],
        relationships=row["relationships"],
        confidence=row["confidence"],
        published_at=row["published_at"],
    )


def content_digest(
    publisher: str, concept: str, definition: str, relationships: dict[str, Any], confidence: float | None
) -> bytes:
    canonical = json.dumps(
        [publisher, concept, definition, relationships, confidence], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).digest()


class LearningStore:
    """The SQL of cross-learning. The pool must decode jsonb (cerebro.runtime.database.open_pool)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def publish(
        self,
        learning_id: uuid.UUID,
        publisher: str,
        concept: str,
        definition: str,
        relationships: dict[str, Any],
        confidence: float | None,
    ) -> tuple[LearningRecord, int]:
        """The learning and its number of receivers; a repeat of the same publication changes nothing."""
        digest = content_digest(publisher, concept, definition, relationships, confidence)
        async with self._pool.acquire() as connection, connection.transaction():
            inserted = await connection.fetchval(
                """INSERT INTO gateway.learnings
                       (learning_id, publisher, concept, definition, relationships, confidence, content_sha256)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (learning_id) DO NOTHING RETURNING true""",
                learning_id,
                publisher,
                concept,
                definition,
                relationships,
                confidence,
                digest,
            )
            if inserted:
                receivers = await connection.fetch(
                    """INSERT INTO gateway.learning_deliveries (namespace, learning_id)
                       SELECT namespace, $1 FROM gateway.learning_subscriptions WHERE namespace <> $2
                       RETURNING namespace""",
                    learning_id,
                    publisher,
                )
                if receivers:
                    await notify(connection, LEARNINGS_CHANNEL, "")
                recipient_count = len(receivers)
            else:
                existing = await connection.fetchval(
                    "SELECT content_sha256 FROM gateway.learnings WHERE learning_id = $1", learning_id
                )
                if bytes(existing) != digest:
                    raise already_exists(
                        "learning", str(learning_id), f"learning {learning_id} was already published with other content"
                    )
                recipient_count = await connection.fetchval(
                    "SELECT count(*) FROM gateway.learning_deliveries WHERE learning_id = $1", learning_id
                )
            row = await connection.fetchrow(
                f"SELECT {_LEARNING_COLUMNS} FROM gateway.learnings l WHERE l.learning_id = $1", learning_id
            )
        return _record(row), recipient_count

    async def subscribe(self, namespace: str) -> None:
        await self._pool.execute(
            "INSERT INTO gateway.learning_subscriptions (namespace) VALUES ($1) ON CONFLICT DO NOTHING", namespace
        )

    async def claim_unstored(self, limit: int, lease_seconds: float) -> list[UnstoredDelivery]:
        """Deliveries not yet stored and not claimed by another replica, claimed for ``lease_seconds``."""
        rows = await self._pool.fetch(
            f"""WITH claimed AS (
                    UPDATE gateway.learning_deliveries d
                    SET claimed_until = now() + make_interval(secs => $2), attempts = d.attempts + 1
                    WHERE (d.namespace, d.learning_id) IN (
                        SELECT namespace, learning_id FROM gateway.learning_deliveries
                        WHERE stored_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                        ORDER BY sequence LIMIT $1 FOR UPDATE SKIP LOCKED)
                    RETURNING d.namespace, d.learning_id, d.attempts, d.sequence)
                SELECT c.namespace, c.attempts, {_LEARNING_COLUMNS}
                FROM claimed c JOIN gateway.learnings l ON l.learning_id = c.learning_id
                ORDER BY c.sequence""",
            limit,
            lease_seconds,
        )
        return [UnstoredDelivery(row["namespace"], _record(row), row["attempts"]) for row in rows]

    async def mark_stored(self, namespace: str, learning_id: uuid.UUID, semantic_memory_id: uuid.UUID) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                """UPDATE gateway.learning_deliveries
                   SET stored_at = now(), semantic_memory_id = $3, claimed_until = NULL, last_error = NULL
                   WHERE namespace = $1 AND learning_id = $2 AND stored_at IS NULL""",
                namespace,
                learning_id,
                semantic_memory_id,
            )
            await notify(connection, LEARNINGS_CHANNEL, namespace)

    async def mark_failed(self, namespace: str, learning_id: uuid.UUID, error: str, retry_after: float) -> None:
        await self._pool.execute(
            """UPDATE gateway.learning_deliveries
               SET claimed_until = now() + make_interval(secs => $3), last_error = $4
               WHERE namespace = $1 AND learning_id = $2 AND stored_at IS NULL""",
            namespace,
            learning_id,
            retry_after,
            error,
        )

    async def unsent(self, namespace: str, sent: list[int], limit: int) -> list[Delivery]:
        """Stored, unacknowledged deliveries of ``namespace`` whose sequence is not in ``sent``, in order."""
        rows = await self._pool.fetch(
            f"""SELECT d.sequence, d.semantic_memory_id, {_LEARNING_COLUMNS}
                FROM gateway.learning_deliveries d JOIN gateway.learnings l ON l.learning_id = d.learning_id
                WHERE d.namespace = $1 AND d.stored_at IS NOT NULL AND d.acknowledged_at IS NULL
                  AND d.sequence <> ALL($2::bigint[])
                ORDER BY d.sequence LIMIT $3""",
            namespace,
            sent,
            limit,
        )
        return [Delivery(row["sequence"], _record(row), row["semantic_memory_id"]) for row in rows]

    async def acknowledge(self, namespace: str, learning_ids: list[uuid.UUID]) -> int:
        rows = await self._pool.fetch(
            """UPDATE gateway.learning_deliveries SET acknowledged_at = now()
               WHERE namespace = $1 AND learning_id = ANY($2::uuid[])
                 AND stored_at IS NOT NULL AND acknowledged_at IS NULL
               RETURNING learning_id""",
            namespace,
            learning_ids,
        )
        return len(rows)

    async def counts(self, namespace: str) -> tuple[int, int]:
        """(deliveries stored and not acknowledged, learnings published) of ``namespace``."""
        row = await self._pool.fetchrow(
            """SELECT
                   (SELECT count(*) FROM gateway.learning_deliveries
                    WHERE namespace = $1 AND stored_at IS NOT NULL AND acknowledged_at IS NULL) AS pending,
                   (SELECT count(*) FROM gateway.learnings WHERE publisher = $1) AS published""",
            namespace,
        )
        return row["pending"], row["published"]


class LearningSignals:
    """Wake-ups from LEARNINGS_CHANNEL notifications: of the store loop, and of each namespace's streams."""

    def __init__(self) -> None:
        self.store_wanted = asyncio.Event()
        self._streams: dict[str, set[asyncio.Event]] = {}

    def notified(self, payload: str) -> None:
        if payload:
            for event in self._streams.get(payload, ()):
                event.set()
        else:
            self.store_wanted.set()

    def wake_all(self) -> None:
        self.store_wanted.set()
        for events in self._streams.values():
            for event in events:
                event.set()

    @contextmanager
    def stream_waiter(self, namespace: str) -> Iterator[asyncio.Event]:
        """An event set whenever a delivery of ``namespace`` was stored, for the ``with`` block."""
        event = asyncio.Event()
        self._streams.setdefault(namespace, set()).add(event)
        try:
            yield event
        finally:
            events = self._streams[namespace]
            events.discard(event)
            if not events:
                del self._streams[namespace]
