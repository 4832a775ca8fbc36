"""The leased job queue on the real embedded PostgreSQL: shared claims, leases, retries, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from cerebro.runtime.leased_queue import JobTable, LeasedQueue, RetryPolicy

TABLE = JobTable(name="jobs", key="job_id", claim_order="priority DESC, job_id")
SCHEMA = """
CREATE TABLE jobs (
    job_id          bigint      PRIMARY KEY,
    priority        integer     NOT NULL DEFAULT 0,
    state           text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_at      timestamptz,
    locked_until    timestamptz,
    claimed_by      text,
    claim_token     uuid,
    completed_at    timestamptz
)
"""


def queue(worker: str, *, max_attempts: int | None = 2, lease: float = 30.0) -> LeasedQueue:
    retry = RetryPolicy(max_attempts=max_attempts, backoff_base_seconds=0.05, backoff_max_seconds=0.2)
    return LeasedQueue(TABLE, worker_id=worker, lease_seconds=lease, retry=retry)


@pytest.fixture
async def pool(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(fresh_database_url, min_size=2, max_size=4)
    await pool.execute(SCHEMA)
    await pool.execute("INSERT INTO jobs (job_id, priority) SELECT n, n % 3 FROM generate_series(1, 10) AS n")
    yield pool
    await pool.close()


async def states(pool: asyncpg.Pool) -> dict[int, tuple[str, int]]:
    rows = await pool.fetch("SELECT job_id, state, attempts FROM jobs")
    return {row["job_id"]: (row["state"], row["attempts"]) for row in rows}


async def test_concurrent_claims_never_share_a_job_and_follow_the_claim_order(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as first, pool.acquire() as second, first.transaction():
        mine = await queue("a").claim(first, 4)
        # While the first claim's rows are locked, the second worker skips them instead of waiting.
        theirs = await asyncio.wait_for(queue("b").claim(second, 10), 5)
    assert mine.keys == [2, 5, 8, 1]  # priority 2 first, then by id
    assert set(mine.keys).isdisjoint(theirs.keys)
    assert sorted(mine.keys + theirs.keys) == list(range(1, 11))


async def test_complete_only_with_the_claims_token(pool: asyncpg.Pool) -> None:
    worker = queue("a")
    claim = await worker.claim(pool, 3)
    impostor = await queue("b").claim(pool, 3)
    assert await worker.complete(pool, impostor, claim.keys) == []
    assert sorted(await worker.complete(pool, claim, claim.keys)) == sorted(claim.keys)
    assert {states_ for key, states_ in (await states(pool)).items() if key in claim.keys} == {("done", 1)}
    assert await worker.pending_count(pool) == 4


async def test_failures_back_off_then_die_after_the_last_attempt(pool: asyncpg.Pool) -> None:
    worker = queue("a", max_attempts=2)
    claim = await worker.claim(pool, 1)
    outcome = await worker.fail(pool, claim, claim.keys, "boom")
    assert (outcome.retried, outcome.dead) == (1, 0)
    # Backing off: not claimable at once.
    assert claim.keys[0] not in (await worker.claim(pool, 10)).keys
    await pool.execute(
        "UPDATE jobs SET state = 'pending', claim_token = NULL, locked_until = NULL WHERE job_id <> $1", claim.keys[0]
    )
    await asyncio.sleep(0.4)
    again = await worker.claim(pool, 1)
    assert again.keys == claim.keys
    outcome = await worker.fail(pool, again, again.keys, "boom again")
    assert (outcome.retried, outcome.dead) == (0, 1)
    row = await pool.fetchrow("SELECT state, last_error FROM jobs WHERE job_id = $1", claim.keys[0])
    assert (row["state"], row["last_error"]) == ("dead", "boom again")


async def test_without_an_attempt_limit_a_job_is_retried_for_ever(pool: asyncpg.Pool) -> None:
    worker = queue("a", max_attempts=None)
    await pool.execute("DELETE FROM jobs WHERE job_id > 1")
    for _ in range(5):
        # Longer than the largest backoff (0.2 s plus 25 % jitter).
        await asyncio.sleep(0.4)
        claim = await worker.claim(pool, 1)
        assert claim.keys == [1]
        outcome = await worker.fail(pool, claim, claim.keys, "still failing")
        assert outcome.dead == 0
    assert (await states(pool))[1] == ("pending", 5)


async def test_release_gives_jobs_back_without_counting_the_attempt(pool: asyncpg.Pool) -> None:
    worker = queue("a")
    claim = await worker.claim(pool, 10)
    assert await worker.release(pool, claim, "embedder down") == 10
    assert set((await states(pool)).values()) == {("pending", 0)}


async def test_expired_leases_are_reclaimed_and_the_dead_workers_token_no_longer_counts(pool: asyncpg.Pool) -> None:
    dead_worker = queue("dead", lease=0.1, max_attempts=1)
    claim = await dead_worker.claim(pool, 2)
    await asyncio.sleep(0.3)
    outcome = await queue("janitor", max_attempts=1).reclaim_expired(pool)
    assert (outcome.retried, outcome.dead) == (0, 2)
    assert await dead_worker.complete(pool, claim, claim.keys) == []

    lively = queue("lively", lease=2.0, max_attempts=3)
    held = await lively.claim(pool, 1)
    for _ in range(3):
        await asyncio.sleep(1.0)
        await lively.extend_lease(pool, held)
    assert (await lively.reclaim_expired(pool)).retried == 0
    assert await lively.complete(pool, held, held.keys) == held.keys
