"""A job queue in a PostgreSQL table: claimed under a lease, retried with backoff, dead after the last attempt.

The model is procrastinate's: workers claim due jobs with ``FOR UPDATE SKIP LOCKED`` (so replicas share
the work without waiting on each other), each claim carries a token and a lease, and only the token's
holder can finish its jobs. A lease that runs out means the worker died: :meth:`LeasedQueue.reclaim_expired`
puts its jobs back (or marks them dead when they used their last attempt), so no job stays claimed for ever.

The queue owns only the mechanics. What a job is (the text to embed, the learning to store) stays in the
service, which joins its own columns on the claimed keys. A job table has these columns::

    <key>            the job's identity (any type; the claim returns these)
    state            text: 'pending' | 'processing' | 'done' | 'dead'
    attempts         integer, counted when claimed
    last_error       text
    next_attempt_at  timestamptz: not claimed before then
    claimed_at       timestamptz
    locked_until     timestamptz: the lease
    claimed_by       text: the worker, for operators
    claim_token      uuid
    completed_at     timestamptz

Every method takes the connection (or pool) to run on, so a service can finish jobs in the same
transaction that stores their results.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

# A connection of its own, one acquired from a pool (a proxy, to asyncpg's types), or the pool itself.
Executor = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy | asyncpg.Pool


@dataclass(frozen=True)
class JobTable:
    """A job table; every name here is a constant in code, never client input."""

    name: str
    key: str
    # Which due jobs are claimed first, e.g. "priority DESC, next_attempt_at, job_id".
    claim_order: str


@dataclass(frozen=True)
class Claim:
    token: uuid.UUID
    keys: list[Any]


@dataclass(frozen=True)
class FailureOutcome:
    retried: int
    dead: int


@dataclass(frozen=True)
class RetryPolicy:
    # None: a job is retried for ever (its backoff still grows up to the cap).
    max_attempts: int | None
    backoff_base_seconds: float
    backoff_max_seconds: float


class LeasedQueue:
    def __init__(self, table: JobTable, *, worker_id: str, lease_seconds: float, retry: RetryPolicy) -> None:
        self.table = table
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._retry = retry
        # -1: no attempt limit; SQL compares attempts with it only when it is positive.
        self._max_attempts = retry.max_attempts if retry.max_attempts is not None else -1
        name, key = table.name, table.key
        self._claim_sql = f"""
            WITH due AS (
                SELECT {key} FROM {name}
                WHERE state = 'pending' AND next_attempt_at <= now()
                ORDER BY {table.claim_order}
                LIMIT $1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE {name} q
            SET state = 'processing', attempts = q.attempts + 1, claimed_at = now(),
                locked_until = now() + make_interval(secs => $2), claimed_by = $3, claim_token = $4
            FROM due WHERE q.{key} = due.{key}
            RETURNING q.{key}
        """
        self._extend_sql = f"""
            UPDATE {name} SET locked_until = now() + make_interval(secs => $2)
            WHERE claim_token = $1 AND state = 'processing'
        """
        self._complete_sql = f"""
            UPDATE {name}
            SET state = 'done', completed_at = now(), locked_until = NULL, claim_token = NULL, last_error = NULL
            WHERE {key} = ANY($1) AND claim_token = $2 AND state = 'processing'
            RETURNING {key}
        """
        # A retry waits base * 2^(attempts-1), capped, with +-25 % jitter so failed batches spread out.
        self._fail_sql = f"""
            UPDATE {name}
            SET state = CASE WHEN $3 > 0 AND attempts >= $3 THEN 'dead' ELSE 'pending' END,
                completed_at = CASE WHEN $3 > 0 AND attempts >= $3 THEN now() END,
                last_error = $4,
                next_attempt_at = now() + make_interval(
                    secs => least($5 * power(2, attempts - 1), $6) * (0.75 + random() * 0.5)),
                locked_until = NULL, claim_token = NULL, claimed_by = NULL, claimed_at = NULL
            WHERE {key} = ANY($1) AND claim_token = $2 AND state = 'processing'
            RETURNING state
        """
        self._release_sql = f"""
            UPDATE {name}
            SET state = 'pending', attempts = attempts - 1, last_error = $2, next_attempt_at = now(),
                locked_until = NULL, claim_token = NULL, claimed_by = NULL, claimed_at = NULL
            WHERE claim_token = $1 AND state = 'processing'
            RETURNING {key}
        """
        self._reclaim_sql = f"""
            UPDATE {name}
            SET state = CASE WHEN $1 > 0 AND attempts >= $1 THEN 'dead' ELSE 'pending' END,
                completed_at = CASE WHEN $1 > 0 AND attempts >= $1 THEN now() END,
                last_error = 'lease of ' || coalesce(claimed_by, 'a worker') || ' expired at ' || locked_until::text,
                next_attempt_at = now(),
                locked_until = NULL, claim_token = NULL, claimed_by = NULL, claimed_at = NULL
            WHERE state = 'processing' AND locked_until < now()
            RETURNING state
        """
        self._pending_sql = f"SELECT count(*) FROM {name} WHERE state = 'pending'"

    async def claim(self, executor: Executor, limit: int) -> Claim:
        """Claim up to ``limit`` due jobs in claim order; other workers skip them while the lease lasts."""
        token = uuid.uuid4()
        rows = await executor.fetch(self._claim_sql, limit, self._lease_seconds, self._worker_id, token)
        return Claim(token, [row[0] for row in rows])

    async def extend_lease(self, executor: Executor, claim: Claim) -> None:
        """Push the lease of a claim still being worked on further into the future."""
        await executor.execute(self._extend_sql, claim.token, self._lease_seconds)

    async def complete(self, executor: Executor, claim: Claim, keys: Sequence[Any]) -> list[Any]:
        """Mark these jobs of ``claim`` done; returns those that were still ours (a reset job is not)."""
        rows = await executor.fetch(self._complete_sql, list(keys), claim.token)
        return [row[0] for row in rows]

    async def fail(self, executor: Executor, claim: Claim, keys: Sequence[Any], error: str) -> FailureOutcome:
        """Count a failed attempt: retry later with backoff, or dead after the last attempt."""
        rows = await executor.fetch(
            self._fail_sql,
            list(keys),
            claim.token,
            self._max_attempts,
            error,
            self._retry.backoff_base_seconds,
            self._retry.backoff_max_seconds,
        )
        return _outcome(rows)

    async def release(self, executor: Executor, claim: Claim, error: str) -> int:
        """Give a claim back without counting the attempt (a dependency was down, not the job's fault)."""
        return len(await executor.fetch(self._release_sql, claim.token, error))

    async def reclaim_expired(self, executor: Executor) -> FailureOutcome:
        """Jobs whose lease ran out (their worker died) go back to pending, or dead if out of attempts."""
        return _outcome(await executor.fetch(self._reclaim_sql, self._max_attempts))

    async def pending_count(self, executor: Executor) -> int:
        count: int = await executor.fetchval(self._pending_sql)
        return count


def _outcome(rows: Sequence[asyncpg.Record]) -> FailureOutcome:
    dead = sum(1 for row in rows if row["state"] == "dead")
    return FailureOutcome(retried=len(rows) - dead, dead=dead)
