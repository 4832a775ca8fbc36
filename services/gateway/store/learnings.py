"""Cross-learning on PostgreSQL: publications, durable subscriptions, and one delivery row per receiver.

Publishing inserts the learning and, in the same transaction, a delivery for every subscribed
namespace but the publisher's (an outbox), then notifies. Any gateway replica then stores each
delivery as semantic memory in its receiver's namespace (:mod:`services.gateway.learning_delivery`),
and the replica holding the receiver's stream sends it until the receiver acknowledges it. Everything
lives in PostgreSQL, so a gateway restart or a second replica loses and duplicates nothing: the
learning id is the primary key of a learning, and (namespace, learning id) of a delivery.

The deliveries to store are a job table of the runtime kit's leased queue
(:mod:`cerebro.runtime.leased_queue`, keyed by ``sequence``): replicas claim them under a lease,
and a failed one is retried for ever with capped backoff. A delivery is stored when ``stored_at`` is
set, in the same transaction that completes its job; the streams send only stored deliveries.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from cerebro.runtime.errors import already_exists
from cerebro.runtime.leased_queue import Claim, JobTable, LeasedQueue, RetryPolicy
from cerebro.runtime.notifications import notify
from services.gateway.store.channels import LEARNINGS_CHANNEL


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

    sequence: int
    namespace: str
    learning: LearningRecord
    attempts: int


@dataclass(frozen=True)
class ClaimedDeliveries:
    claim: Claim
    deliveries: list[UnstoredDelivery]


DELIVERY_JOBS = JobTable(name="gateway.learning_deliveries", key="sequence", claim_order="sequence")
# No attempt limit: a learning is stored in every subscriber's namespace, however long the memory
# service is unavailable. Retries wait 1, 2, 4, ... seconds, at most a minute.
DELIVERY_RETRY = RetryPolicy(max_attempts=None, backoff_base_seconds=1.0, backoff_max_seconds=60.0)
DELIVERY_LEASE_SECONDS = 30.0


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
    """The SQL of cross-learning. The pool must decode jsonb (cerebro.runtime.database.open_pool).

    ``worker_id`` names this replica in the claims it makes (for operators).
    """

    def __init__(self, pool: asyncpg.Pool, worker_id: str) -> None:
        self._pool = pool
        self._deliveries = LeasedQueue(
            DELIVERY_JOBS, worker_id=worker_id, lease_seconds=DELIVERY_LEASE_SECONDS, retry=DELIVERY_RETRY
        )

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

    async def claim_unstored(self, limit: int) -> ClaimedDeliveries:
        """Up to ``limit`` due deliveries not yet stored, claimed by this replica for the lease.

        Deliveries whose claim outlived its lease (a replica died storing them) are put back first.
        """
        await self._deliveries.reclaim_expired(self._pool)
        claim = await self._deliveries.claim(self._pool, limit)
        if not claim.keys:
            return ClaimedDeliveries(claim, [])
        rows = await self._pool.fetch(
            f"""SELECT d.sequence, d.namespace, d.attempts, {_LEARNING_COLUMNS}
                FROM gateway.learning_deliveries d JOIN gateway.learnings l ON l.learning_id = d.learning_id
                WHERE d.sequence = ANY($1::bigint[])
                ORDER BY d.sequence""",
            claim.keys,
        )
        deliveries = [
            UnstoredDelivery(row["sequence"], row["namespace"], _record(row), row["attempts"]) for row in rows
        ]
        return ClaimedDeliveries(claim, deliveries)

    async def mark_stored(self, claim: Claim, delivery: UnstoredDelivery, semantic_memory_id: uuid.UUID) -> None:
        """Record where the delivery was stored and complete its job, unless the claim was lost meanwhile."""
        async with self._pool.acquire() as connection, connection.transaction():
            if not await self._deliveries.complete(connection, claim, [delivery.sequence]):
                # The lease ran out and another replica has it now; its store returns the same memory.
                return
            await connection.execute(
                """UPDATE gateway.learning_deliveries SET stored_at = now(), semantic_memory_id = $2
                   WHERE sequence = $1""",
                delivery.sequence,
                semantic_memory_id,
            )
            await notify(connection, LEARNINGS_CHANNEL, delivery.namespace)

    async def mark_failed(self, claim: Claim, delivery: UnstoredDelivery, error: str) -> None:
        """Give the delivery back, to be claimed again after a backoff."""
        await self._deliveries.fail(self._pool, claim, [delivery.sequence], error)

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
