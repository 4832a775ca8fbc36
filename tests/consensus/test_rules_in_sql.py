"""The voting rules written in SQL for the one-statement vote (consensus migration 0004) agree with
cerebro.consensus.rules, on every tally drawn: the quorum of an electorate, and the outcome a tally reaches
before the deadline."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cerebro.consensus.rules import outcome, quorum
from cerebro.runtime import database
from services.consensus.main import SCHEMA

OPTIONS = ["yes", "no", "abstain", "later"]


@pytest.fixture
async def connection(fresh_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await database.migrate(fresh_database_url, SCHEMA)
    connection = await asyncpg.connect(fresh_database_url)
    try:
        yield connection
    finally:
        await connection.close()


@st.composite
def tallies(draw: st.DrawFn) -> tuple[int, list[str], list[str]]:
    """An electorate size, its options, and the choices of the electors who voted (at most all of them)."""
    size = draw(st.integers(min_value=1, max_value=40))
    options = OPTIONS[: draw(st.integers(min_value=2, max_value=len(OPTIONS)))]
    choices = draw(st.lists(st.sampled_from(options), max_size=size))
    return size, options, choices


async def test_the_sql_rules_agree_with_the_python_rules(connection: asyncpg.Connection) -> None:
    for size in range(1, 200):
        assert await connection.fetchval("SELECT consensus_quorum($1)", size) == quorum(size)
    drawn: list[tuple[int, list[str], list[str]]] = []

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(tallies())
    def draw(tally: tuple[int, list[str], list[str]]) -> None:
        drawn.append(tally)

    draw()
    for size, options, choices in drawn:
        expected = outcome(size, options, Counter(choices), deadline_passed=False)
        row = await connection.fetchrow(
            "SELECT state, decided_option FROM consensus_outcome($1, $2, $3, $4)", size, quorum(size), options, choices
        )
        assert row is not None
        assert (row["state"], row["decided_option"]) == (expected.state.value, expected.decided_option), (
            size,
            options,
            choices,
        )
