"""The learning outbox as a leased queue: migration 0004 in place, claims shared by replicas, retries for ever."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from cerebro.runtime.database import open_pool
from cerebro.runtime.migrations import apply_migrations
from services.gateway.store.learnings import LearningStore
from services.gateway.store.schema import SCHEMA

EARLIER = datetime(2026, 1, 1, tzinfo=UTC)
LATER = datetime(2026, 1, 2, tzinfo=UTC)
OLD_DELIVERY = """INSERT INTO gateway.learning_deliveries
    (namespace, learning_id, semantic_memory_id, stored_at, acknowledged_at, attempts, claimed_until, last_error)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"""


async def insert_learning(connection: asyncpg.Connection, concept: str = "leases") -> uuid.UUID:
    learning_id = uuid.uuid4()
    await connection.execute(
        """INSERT INTO gateway.learnings (learning_id, publisher, concept, definition, relationships, content_sha256)
           VALUES ($1, 'nexus', $2, '', '{}', '\\x00')""",
        learning_id,
        concept,
    )
    return learning_id


async def test_migration_0004_turns_existing_deliveries_into_jobs_in_place(fresh_database_url: str) -> None:
    migrations = SCHEMA.migrations()
    assert [m.version for m in migrations][:4] == [1, 2, 3, 4]
    await apply_migrations(fresh_database_url, SCHEMA.component, migrations[:3])
    connection = await asyncpg.connect(fresh_database_url)
    try:
        learning = await insert_learning(connection)
        memory_id = uuid.uuid4()
        async with connection.transaction():
            # Stored and acknowledged; stored and waiting to be sent; held by an older replica (or backing
            # off) for another minute; never claimed.
            await connection.execute(OLD_DELIVERY, "acked", learning, memory_id, EARLIER, LATER, 1, None, None)
            await connection.execute(OLD_DELIVERY, "stored", learning, memory_id, EARLIER, None, 2, None, None)
            await connection.execute(
                """INSERT INTO gateway.learning_deliveries (namespace, learning_id, attempts, claimed_until, last_error)
                   VALUES ('held', $1, 3, now() + interval '1 minute', 'memory down')""",
                learning,
            )
            await connection.execute(OLD_DELIVERY, "new", learning, None, None, None, 0, None, None)
        await apply_migrations(fresh_database_url, SCHEMA.component, migrations)
        rows = {
            row["namespace"]: row
            for row in await connection.fetch(
                """SELECT namespace, state, attempts, last_error, stored_at, completed_at, acknowledged_at,
                          semantic_memory_id, next_attempt_at - now() AS wait, claim_token
                   FROM gateway.learning_deliveries"""
            )
        }
        assert {name: row["state"] for name, row in rows.items()} == {
            "acked": "done",
            "stored": "done",
            "held": "pending",
            "new": "pending",
        }
        for name in ("acked", "stored"):
            assert rows[name]["completed_at"] == rows[name]["stored_at"] is not None
            assert rows[name]["semantic_memory_id"] == memory_id
        assert rows["acked"]["acknowledged_at"] is not None and rows["stored"]["acknowledged_at"] is None
        # The older replica's hold is kept as the earliest next attempt; the attempts and error stay.
        assert timedelta(seconds=50) < rows["held"]["wait"] <= timedelta(minutes=1)
        assert (rows["held"]["attempts"], rows["held"]["last_error"]) == (3, "memory down")
        assert rows["new"]["wait"] <= timedelta(0)
        assert all(row["claim_token"] is None for row in rows.values())
        columns = {
            row["column_name"]
            for row in await connection.fetch(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'gateway' AND table_name = 'learning_deliveries'"
            )
        }
        assert "claimed_until" not in columns
    finally:
        await connection.close()


async def test_replicas_share_deliveries_and_a_failed_one_is_retried_after_a_backoff(store_pool: asyncpg.Pool) -> None:
    async with store_pool.acquire() as connection:
        learnings = [await insert_learning(connection, f"concept {n}") for n in range(4)]
        for learning in learnings:
            await connection.execute(
                "INSERT INTO gateway.learning_deliveries (namespace, learning_id) VALUES ('aria', $1)", learning
            )
    first, second = LearningStore(store_pool, "replica a"), LearningStore(store_pool, "replica b")
    mine = await first.claim_unstored(3)
    theirs = await second.claim_unstored(3)
    assert [d.learning.concept for d in mine.deliveries] == ["concept 0", "concept 1", "concept 2"]
    assert [d.learning.concept for d in theirs.deliveries] == ["concept 3"]
    assert {d.attempts for d in mine.deliveries + theirs.deliveries} == {1}

    stored, failed = mine.deliveries[0], mine.deliveries[1]
    await first.mark_stored(mine.claim, stored, uuid.uuid4())
    await first.mark_failed(mine.claim, failed, "the memory service is unavailable")
    # Another replica's token does not complete what it did not claim.
    await second.mark_stored(theirs.claim, mine.deliveries[2], uuid.uuid4())
    rows = {
        row["sequence"]: row
        for row in await store_pool.fetch(
            """SELECT sequence, state, stored_at, last_error, attempts, next_attempt_at - now() AS wait,
                      claimed_by FROM gateway.learning_deliveries"""
        )
    }
    assert (rows[stored.sequence]["state"], rows[stored.sequence]["stored_at"] is not None) == ("done", True)
    assert rows[mine.deliveries[2].sequence]["state"] == "processing"
    assert rows[mine.deliveries[2].sequence]["claimed_by"] == "replica a"
    retry = rows[failed.sequence]
    assert (retry["state"], retry["last_error"], retry["stored_at"]) == (
        "pending",
        "the memory service is unavailable",
        None,
    )
    # The first retry waits about a second (1 s, +-25 %), so it is not claimed again at once.
    assert timedelta(seconds=0.7) < retry["wait"] <= timedelta(seconds=1.3)
    assert not (await second.claim_unstored(10)).deliveries
    await asyncio.sleep(1.4)
    again = await second.claim_unstored(10)
    assert [(d.sequence, d.attempts) for d in again.deliveries] == [(failed.sequence, 2)]


async def test_no_attempt_limit_a_delivery_is_never_given_up(store_pool: asyncpg.Pool) -> None:
    async with store_pool.acquire() as connection:
        learning = await insert_learning(connection)
        # Far past any attempt limit the kit's queues use elsewhere.
        await connection.execute(
            "INSERT INTO gateway.learning_deliveries (namespace, learning_id, attempts) VALUES ('aria', $1, 1000)",
            learning,
        )
    store = LearningStore(store_pool, "replica a")
    claimed = await store.claim_unstored(1)
    (delivery,) = claimed.deliveries
    await store.mark_failed(claimed.claim, delivery, "still down")
    state, wait = await store_pool.fetchrow(
        "SELECT state, next_attempt_at - now() FROM gateway.learning_deliveries WHERE sequence = $1", delivery.sequence
    )
    assert state == "pending"
    # The backoff is capped at a minute (+25 % jitter), however many attempts failed.
    assert timedelta(seconds=44) < wait <= timedelta(seconds=75)


@pytest.fixture
async def store_pool(gateway_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool as the gateway opens it (jsonb decoded)."""
    pool = await open_pool(gateway_database_url, max_size=4)
    yield pool
    await pool.close()
