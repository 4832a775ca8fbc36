"""(j) A region's streaming replica follows the primary through the region's link: what the primary
commits shows up there, a cut link stops it (the replica keeps serving what it has), and once healed
it catches up by itself."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from tests.mesh.harness import Mesh
from tests.mesh.replica import StreamingReplica

pytestmark = pytest.mark.e2e

REGION = "ap"
CATCH_UP_SECONDS = 15.0
# How long a cut replica is watched for a row it must not get.
CUT_WATCH_SECONDS = 1.0


@pytest.fixture
def replica(mesh: Mesh) -> Iterator[StreamingReplica]:
    try:
        yield mesh.start_replica(REGION)
    finally:
        if mesh.links[REGION].is_cut:
            mesh.heal(REGION)
        mesh.drop_replica(REGION)


def _insert(mesh: Mesh, table: str, value: str) -> None:
    async def insert() -> None:
        connection = await asyncpg.connect(mesh.stack.database_url)
        try:
            await connection.execute(f"INSERT INTO {table} VALUES ($1)", value)
        finally:
            await connection.close()

    asyncio.run(insert())


def _has(replica: StreamingReplica, table: str, value: str) -> bool:
    try:
        return bool(replica.query(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE value = '{value}')"))
    except asyncpg.UndefinedTableError:
        # The replica has not replayed the CREATE TABLE yet: it has not got the row either.
        return False


def _seconds_until_seen(replica: StreamingReplica, table: str, value: str) -> float:
    started = time.monotonic()
    while not _has(replica, table, value):
        assert time.monotonic() - started < CATCH_UP_SECONDS, f"{value} never reached the replica"
        time.sleep(0.02)
    return time.monotonic() - started


def test_replica_streams_through_the_link_stops_when_cut_and_catches_up(mesh: Mesh, replica: StreamingReplica) -> None:
    # A table of the test's own, dropped at the end (on the primary; the drop replicates too).
    table = f"public.replica_probe_{uuid.uuid4().hex[:8]}"

    async def ddl(statement: str) -> None:
        connection = await asyncpg.connect(mesh.stack.database_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(ddl(f"CREATE TABLE {table} (value text PRIMARY KEY)"))
    try:
        _insert(mesh, table, "before the cut")
        streamed = _seconds_until_seen(replica, table, "before the cut")
        assert replica.query("SELECT pg_is_in_recovery()") is True

        mesh.cut(REGION)
        _insert(mesh, table, "during the cut")
        time.sleep(CUT_WATCH_SECONDS)
        assert not _has(replica, table, "during the cut"), "the replica got a write across a cut link"
        assert _has(replica, table, "before the cut"), "a cut replica must keep serving what it has"

        mesh.heal(REGION)
        caught_up = _seconds_until_seen(replica, table, "during the cut")
        print(
            f"\n[mesh j] a commit reached the replica in {streamed:.2f} s; "
            f"after the heal it caught up in {caught_up:.1f} s"
        )
    finally:
        asyncio.run(ddl(f"DROP TABLE {table}"))
