"""Pooled connections and session state (cerebro/runtime/session_state.py), on a real PostgreSQL: what one
caller leaves in its session never reaches the next caller of the same connection, and a release after
statements that keep their state in the transaction costs no round trip. Round trips are counted by a proxy
(tests/round_trips.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from cerebro.runtime.database import open_pool
from cerebro.runtime.session_state import changes_session
from tests.round_trips import counting_round_trips

Use = Callable[[asyncpg.pool.PoolConnectionProxy], Awaitable[object]]


@pytest.fixture
async def pool(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    # One connection: the next acquirer always gets the connection the last one released.
    pool = await open_pool(fresh_database_url, min_size=1, max_size=1)
    yield pool
    await pool.close()


async def fresh_session(pool: asyncpg.Pool) -> dict[str, object]:
    async with pool.acquire() as connection:
        row = await connection.fetchrow(
            "SELECT current_setting('work_mem') AS work_mem,"
            # '' once the placeholder exists (after any set_config), as after a transaction-local one.
            " coalesce(current_setting('cerebro.namespace', true), '') AS namespace,"
            " current_setting('application_name') AS application_name,"
            " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks,"
            " (SELECT count(*) FROM pg_listening_channels()) AS channels,"
            " (SELECT count(*) FROM pg_class WHERE relpersistence = 't' AND pg_table_is_visible(oid)) AS temp_tables"
        )
        assert row is not None
        return dict(row)


async def test_nothing_a_caller_leaves_in_its_session_reaches_the_next(pool: asyncpg.Pool) -> None:
    clean = await fresh_session(pool)
    uses: list[Use] = [
        lambda c: c.execute("SET work_mem = '7MB'"),
        lambda c: c.execute("set application_name to 'leaked'"),
        # Through the prepared-statement path (fetch*, arguments), and a setting the row security reads.
        lambda c: c.fetchval("SELECT set_config('cerebro.namespace', $1, false)", "someone-else"),
        lambda c: c.fetchval("SELECT set_config('work_mem', $1, $2)", "9MB", False),
        lambda c: c.execute("SELECT pg_advisory_lock(42)"),
        lambda c: c.execute("LISTEN leaked_channel"),
        lambda c: c.execute("CREATE TEMP TABLE leaked (x int)"),
        # A SET inside a transaction outlives the transaction.
        lambda c: c.execute("BEGIN; SET work_mem = '11MB'; COMMIT"),
    ]
    for use in uses:
        async with pool.acquire() as connection:
            await use(connection)
        assert await fresh_session(pool) == clean


async def test_a_transaction_left_open_is_rolled_back(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection:
        await connection.execute("BEGIN")
        await connection.execute("SET LOCAL work_mem = '13MB'")
        await connection.execute("CREATE TABLE not_kept (x int)")
    async with pool.acquire() as connection:
        assert await connection.fetchval("SELECT to_regclass('not_kept')") is None
        assert await connection.fetchval("SELECT current_setting('work_mem')") != "13MB"


async def test_a_release_after_transaction_scoped_statements_costs_no_round_trip(fresh_database_url: str) -> None:
    async with counting_round_trips(fresh_database_url) as (counter, url):
        pool = await open_pool(url, min_size=1, max_size=1)
        try:

            async def round_trips(use: Use) -> int:
                async with pool.acquire() as connection:
                    await use(connection)  # prepares the statement and looks up its types
                before = counter.round_trips
                async with pool.acquire() as connection:
                    await use(connection)
                return counter.round_trips - before

            # The memory service's hot path: the namespace declared for the transaction, in the statement.
            assert (
                await round_trips(lambda c: c.fetchval("SELECT set_config('cerebro.namespace', $1, true)", "nexus"))
                == 1
            )
            assert await round_trips(lambda c: c.execute("BEGIN; SET LOCAL work_mem = '5MB'; COMMIT")) == 1
            # A session-level setting costs the reset's round trip.
            assert await round_trips(lambda c: c.execute("SET work_mem = '5MB'")) == 2
        finally:
            await pool.close()


@pytest.mark.parametrize(
    ("query", "changes"),
    [
        ("SELECT set_config('cerebro.namespace', $1, true)", False),
        ("SELECT x FROM (SELECT set_config('cerebro.namespace', $1, TRUE)) AS scope", False),
        ("UPDATE memory.blocks SET content = $1 WHERE id = $2", False),
        ("BEGIN; SET LOCAL statement_timeout = 0; COMMIT", False),
        ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", False),
        ("SELECT pg_advisory_xact_lock(1)", False),
        ("RESET ALL", False),
        ("SET statement_timeout = 0", True),
        ("  set role nexus_reader", True),
        ("SELECT 1; SET search_path = public", True),
        ("SELECT set_config('x.y', $1, false)", True),
        ("SELECT set_config('x.y', lower($1), true)", True),
        ("SELECT pg_try_advisory_lock(1)", True),
        ("DECLARE c CURSOR WITH HOLD FOR SELECT 1", True),
        ("CREATE TEMPORARY TABLE t (x int)", True),
    ],
)
def test_statements_that_may_change_the_session_are_told_apart(query: str, changes: bool) -> None:
    assert changes_session(query) is changes


def test_no_function_of_the_migrations_changes_the_session() -> None:
    """What the tracked connection cannot see: session state set inside the functions the statements call."""
    root = Path(__file__).resolve().parents[2]
    found = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.glob("services/*/migrations/*.sql"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"set_config|advisory_lock", line, re.IGNORECASE)
        and not line.lstrip().startswith("--")
        and changes_session(line)
    ]
    assert found == []
