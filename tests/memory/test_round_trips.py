"""Round trips between the memory service and PostgreSQL, counted by a proxy between them.

Counted in the steady state: each call is made a few times first, so that asyncpg has prepared its
statements on the pooled connection (a statement's first execution costs one more round trip, for
Parse/Describe) and looked up the types it returns. The dependency probe of the service shares the
pool and may add a round trip to one measurement; each count is the least of a few measurements
(nothing makes a call cheaper than its own round trips).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from cerebro.memory.v1 import episodes_pb2, namespaces_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from tests.memory.embedder_double import EmbedderDouble
from tests.memory.helpers import MemoryServer, running_memory_service, violated_fields
from tests.tcp_proxy import TcpProxy, proxied

WARM_UP_CALLS = 3
MEASUREMENTS = 4
QUIET = {"CEREBRO_MEMORY_TEXT_STATISTICS_FOLD_SECONDS": "3600"}


@pytest.fixture
async def counted(
    memory_database_url: str, memory_redis_url: str, embedder: EmbedderDouble
) -> AsyncIterator[tuple[MemoryServer, TcpProxy]]:
    async with (
        proxied(memory_database_url) as (counter, url),
        running_memory_service(url, memory_redis_url, embedder.target, QUIET) as server,
    ):
        yield server, counter


async def test_episode_calls_reach_postgres_in_one_round_trip(
    counted: tuple[MemoryServer, TcpProxy],
) -> None:
    memory, counter = counted
    project = (
        await memory.stub.CreateProject(
            pb.CreateProjectRequest(
                namespace="nexus", project=namespaces_pb2.Project(display_name="round trips", dna="round_trips")
            )
        )
    ).project

    async def create() -> pb.CreateEpisodeResponse:
        return await memory.stub.CreateEpisode(
            pb.CreateEpisodeRequest(
                namespace="nexus",
                episode=episodes_pb2.Episode(content="one round trip", tags=["rt"], project_id=project.project_id),
            )
        )

    async def create_again() -> pb.CreateEpisodeResponse:
        # An idempotent retry: the earlier row comes back, in the same single statement.
        return await memory.stub.CreateEpisode(
            pb.CreateEpisodeRequest(
                namespace="nexus", request_id=request_id, episode=episodes_pb2.Episode(content="retried")
            )
        )

    async def batch() -> pb.BatchCreateEpisodesResponse:
        return await memory.stub.BatchCreateEpisodes(
            pb.BatchCreateEpisodesRequest(
                namespace="nexus",
                requests=[
                    pb.CreateEpisodeRequest(episode=episodes_pb2.Episode(content=f"batch {index}"))
                    for index in range(3)
                ],
            )
        )

    request_id = str(uuid.uuid4())
    episode_id = (await create()).episode.episode_id
    assert await counter.least_round_trips(create) == 1
    assert await counter.least_round_trips(create_again) == 1
    assert await counter.least_round_trips(batch) == 1
    assert (
        await counter.least_round_trips(
            lambda: memory.stub.GetEpisode(pb.GetEpisodeRequest(namespace="nexus", episode_id=episode_id))
        )
        == 1
    )
    listing = pb.ListEpisodesRequest(namespace="nexus", page_size=5)
    listing.filter.tags.append("rt")
    listing.filter.project_id = project.project_id
    assert await counter.least_round_trips(lambda: memory.stub.ListEpisodes(listing)) == 1
    page = await memory.stub.ListEpisodes(listing)
    assert len(page.episodes) == 5 and page.next_page_token
    assert all(episode.project_id == project.project_id for episode in page.episodes)
    update = pb.UpdateEpisodeRequest(
        namespace="nexus",
        episode=episodes_pb2.Episode(episode_id=episode_id, importance=0.7, project_id=project.project_id),
    )
    update.update_mask.paths.extend(["importance", "project_id"])
    assert await counter.least_round_trips(lambda: memory.stub.UpdateEpisode(update)) == 1

    async def create_and_delete() -> None:
        created = (await create()).episode.episode_id
        before = counter.round_trips
        await memory.stub.DeleteEpisode(pb.DeleteEpisodeRequest(namespace="nexus", episode_id=created))
        deletions.append(counter.round_trips - before)

    deletions: list[int] = []
    for _ in range(WARM_UP_CALLS + MEASUREMENTS):
        await create_and_delete()
    assert min(deletions[WARM_UP_CALLS:]) == 1
    second_page = pb.ListEpisodesRequest()
    second_page.CopyFrom(listing)
    second_page.page_token = page.next_page_token
    assert await counter.least_round_trips(lambda: memory.stub.ListEpisodes(second_page)) == 1


async def test_single_statement_paths_keep_their_errors(memory: MemoryServer, admin: asyncpg.Connection) -> None:
    foreign_project = uuid.uuid4()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.BatchCreateEpisodes(
            pb.BatchCreateEpisodesRequest(
                namespace="nexus",
                requests=[
                    pb.CreateEpisodeRequest(episode=episodes_pb2.Episode(content="fine")),
                    pb.CreateEpisodeRequest(
                        episode=episodes_pb2.Episode(content="no such project", project_id=str(foreign_project))
                    ),
                ],
            )
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error.value) == ["requests[1].episode.project_id"]
    assert await admin.fetchval("SELECT count(*) FROM memory.episodes") == 0

    for call in (
        memory.stub.CreateEpisode(
            pb.CreateEpisodeRequest(namespace="nobody", episode=episodes_pb2.Episode(content="lost"))
        ),
        memory.stub.GetEpisode(pb.GetEpisodeRequest(namespace="nobody", episode_id=str(uuid.uuid4()))),
        memory.stub.ListEpisodes(pb.ListEpisodesRequest(namespace="nobody")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert "namespace" in (error.value.details() or "")


async def test_the_functions_run_with_the_callers_rights_under_row_security(
    memory_database_url: str, admin: asyncpg.Connection
) -> None:
    """SECURITY INVOKER: the caller's privileges and the namespace policies apply inside the functions."""
    definers = await admin.fetchval(
        "SELECT count(*) FROM pg_proc WHERE prosecdef AND proname IN"
        " ('enter_namespace', 'create_episodes', 'get_episode', 'list_episodes', 'update_episode', 'delete_episode')"
    )
    assert definers == 0
    await admin.execute("INSERT INTO memory.namespaces (name, display_name) VALUES ('aria', 'ARIA')")
    aria_episode = await admin.fetchval(
        "INSERT INTO memory.episodes (namespace, content) VALUES ('aria', 'private to aria') RETURNING episode_id"
    )
    reader = await asyncpg.connect(memory_database_url, server_settings={"role": "cerebro_memory_reader"})
    app = await asyncpg.connect(memory_database_url, server_settings={"role": "cerebro_memory"})
    try:
        # The read-only role may read through the functions but has no right to insert through them.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await reader.fetch(
                "SELECT * FROM memory.create_episodes('nexus', ARRAY[gen_random_uuid()], ARRAY['x'],"
                " ARRAY[0.5::float8], ARRAY['[]'], ARRAY['{}'], ARRAY[NULL::uuid], ARRAY[NULL::timestamptz],"
                " ARRAY[NULL::uuid], ARRAY[NULL::bytea])"
            )
        assert await reader.fetch("SELECT * FROM memory.get_episode('nexus', $1)", aria_episode) == []
        assert len(await reader.fetch("SELECT * FROM memory.get_episode('aria', $1)", aria_episode)) == 1
        # The namespace the function declared is its transaction's alone: a statement after it sees nothing.
        async with app.transaction():
            await app.fetch("SELECT * FROM memory.get_episode('aria', $1)", aria_episode)
            assert await app.fetchval("SELECT count(*) FROM memory.episodes") == 1
        assert await app.fetchval("SELECT count(*) FROM memory.episodes") == 0
    finally:
        await reader.close()
        await app.close()


async def test_the_counter_counts_each_wait_for_the_server(memory_database_url: str) -> None:
    async with proxied(memory_database_url) as (counter, url):
        connection = await asyncpg.connect(url)
        try:
            await connection.fetchval("SELECT 1")
            before = counter.round_trips
            async with connection.transaction():
                await connection.fetchval("SELECT 1")
            # BEGIN, the statement (prepared already), COMMIT.
            assert counter.round_trips - before == 3
        finally:
            await connection.close()
