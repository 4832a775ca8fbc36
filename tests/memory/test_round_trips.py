"""Round trips between the memory service and PostgreSQL, counted by a proxy between them.

Counted in the steady state: each call is made a few times first, so that asyncpg has prepared its
statements on the pooled connection (a statement's first execution costs one more round trip, for
Parse/Describe) and looked up the types it returns. The dependency probe of the service shares the
pool and may add a round trip to one measurement; each count is the least of a few measurements
(nothing makes a call cheaper than its own round trips).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import grpc
import pytest

from cerebro.memory.v1 import episodes_pb2, identity_pb2, namespaces_pb2, semantic_pb2, working_memory_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from tests.memory.embedder_double import EmbedderDouble
from tests.memory.helpers import MemoryServer, field_violations, running_memory_service, violated_fields
from tests.tcp_proxy import TcpProxy, proxied

WARM_UP_CALLS = 3
MEASUREMENTS = 4
QUIET = {"CEREBRO_MEMORY_TEXT_STATISTICS_FOLD_SECONDS": "3600"}
RequestT = TypeVar("RequestT")
# The functions of migrations 0010 and 0011: the caller's rights (SECURITY INVOKER), no SET clause.
SINGLE_STATEMENT_FUNCTIONS = [
    "enter_namespace",
    "create_episodes",
    "get_episode",
    "list_episodes",
    "update_episode",
    "delete_episode",
    "create_project",
    "update_project",
    "delete_project",
    "create_memory_block",
    "block_refusal",
    "update_memory_block",
    "delete_memory_block",
    "create_working_memory_item",
    "update_working_memory_item",
    "delete_working_memory_item",
    "block_digest",
    "create_checkpoint",
    "update_consciousness_state",
    "heartbeat",
    "semantic_memory_row",
    "create_semantic_memory",
    "update_semantic_memory",
    "delete_semantic_memory",
    "matching_episodes",
    "purge_episodes",
]


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
    # PurgeEpisodes: the dry run counts, the forced one deletes (episodes tagged for it, one per call).
    purging = episodes_pb2.EpisodeFilter(tags=["purge-rt"])
    assert (
        await counter.least_round_trips(
            lambda: memory.stub.PurgeEpisodes(pb.PurgeEpisodesRequest(namespace="nexus", filter=purging))
        )
        == 1
    )

    async def purge_one() -> pb.PurgeEpisodesResponse:
        doomed = episodes_pb2.Episode(content="purged", tags=["purge-rt"])
        await memory.stub.CreateEpisode(pb.CreateEpisodeRequest(namespace="nexus", episode=doomed))
        before = counter.round_trips
        purged = await memory.stub.PurgeEpisodes(pb.PurgeEpisodesRequest(namespace="nexus", filter=purging, force=True))
        purges.append(counter.round_trips - before)
        return purged

    purges: list[int] = []
    for _ in range(WARM_UP_CALLS + MEASUREMENTS):
        assert (await purge_one()).purge_count == 1
    assert min(purges[WARM_UP_CALLS:]) == 1
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
    functions = await admin.fetch(
        "SELECT proname, prosecdef, proconfig FROM pg_proc"
        " WHERE pronamespace = 'memory'::regnamespace AND proname = ANY($1::text[])",
        SINGLE_STATEMENT_FUNCTIONS,
    )
    assert sorted(row["proname"] for row in functions) == sorted(SINGLE_STATEMENT_FUNCTIONS)
    assert [row["proname"] for row in functions if row["prosecdef"] or row["proconfig"]] == []
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
        # Nor may it call the other writing functions at all (migration 0011 grants them to cerebro_memory only).
        for call in (
            "SELECT * FROM memory.heartbeat('nexus')",
            "SELECT * FROM memory.delete_project('nexus', gen_random_uuid())",
            "SELECT * FROM memory.create_checkpoint('nexus', 't', '{}', '{}', NULL, NULL)",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await reader.fetch(call)
        # It may count a purge (the dry run, on a replica) but not delete through it.
        purge = "SELECT * FROM memory.purge_episodes('aria', NULL, NULL, NULL, NULL, NULL, 10, $1)"
        assert (await reader.fetchrow(purge, False))["purge_count"] == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await reader.fetch(purge, True)
        # A purge through 'nexus' does not reach aria's episodes.
        assert (await app.fetchrow(purge.replace("'aria'", "'nexus'"), True))["purge_count"] == 0
        assert await reader.fetch("SELECT * FROM memory.get_episode('nexus', $1)", aria_episode) == []
        assert len(await reader.fetch("SELECT * FROM memory.get_episode('aria', $1)", aria_episode)) == 1
        # A write through 'nexus' cannot reach aria's rows, even by their ids.
        aria_project = await admin.fetchval(
            "INSERT INTO memory.projects (namespace, display_name) VALUES ('aria', 'secret') RETURNING project_id"
        )
        deleted = await app.fetchrow("SELECT * FROM memory.delete_project('nexus', $1)", aria_project)
        assert deleted is not None and not deleted["deleted"]
        renamed = await app.fetch(
            "SELECT * FROM memory.update_project('nexus', $1, ARRAY[true, false, false, false, false],"
            " 'mine now', NULL, NULL, NULL, NULL)",
            aria_project,
        )
        assert renamed == []
        assert await admin.fetchval("SELECT display_name FROM memory.projects WHERE project_id = $1", aria_project) == (
            "secret"
        )
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


def _masked(request: RequestT, *paths: str) -> RequestT:
    """``request`` with ``paths`` in its update mask."""
    request.update_mask.paths.extend(paths)
    return request


async def _least_round_trips_of_each(
    counter: TcpProxy, prepare: Callable[[], Awaitable[str]], call: Callable[[str], Awaitable[object]]
) -> int:
    """:meth:`TcpProxy.least_round_trips` of ``call`` on a fresh resource each time (a deletion), the
    resource made by ``prepare`` outside the count."""
    counts = []
    for index in range(WARM_UP_CALLS + MEASUREMENTS):
        made = await prepare()
        before = counter.round_trips
        await call(made)
        if index >= WARM_UP_CALLS:
            counts.append(counter.round_trips - before)
    return min(counts)


async def test_every_other_write_reaches_postgres_in_one_round_trip(counted: tuple[MemoryServer, TcpProxy]) -> None:
    """Namespaces, projects, blocks, working memory, checkpoints, consciousness and semantic memory."""
    memory, counter = counted
    stub = memory.stub
    names = (f"rt-{index}" for index in range(100))
    assert (
        await counter.least_round_trips(
            lambda: stub.CreateNamespace(
                pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name=next(names)))
            )
        )
        == 1
    )

    async def new_project() -> str:
        project = namespaces_pb2.Project(display_name=f"project {uuid.uuid4()}")
        response = await stub.CreateProject(pb.CreateProjectRequest(namespace="nexus", project=project))
        return response.project.project_id

    project_id = await new_project()
    request_id = str(uuid.uuid4())
    counts = {
        "CreateProject": await counter.least_round_trips(new_project),
        "CreateProject again": await counter.least_round_trips(
            lambda: stub.CreateProject(
                pb.CreateProjectRequest(
                    namespace="nexus",
                    request_id=request_id,
                    project=namespaces_pb2.Project(display_name="retried project"),
                )
            )
        ),
        "UpdateProject": await counter.least_round_trips(
            lambda: stub.UpdateProject(
                _masked(
                    pb.UpdateProjectRequest(
                        namespace="nexus",
                        project=namespaces_pb2.Project(project_id=project_id, description="changed", dna="rt_dna"),
                    ),
                    "description",
                    "dna",
                )
            )
        ),
        "DeleteProject": await _least_round_trips_of_each(
            counter,
            new_project,
            lambda made: stub.DeleteProject(pb.DeleteProjectRequest(namespace="nexus", project_id=made)),
        ),
    }

    async def new_block() -> str:
        block = identity_pb2.MemoryBlock(label=f"rt_{uuid.uuid4().hex}", value="round trips")
        return (
            await stub.CreateMemoryBlock(pb.CreateMemoryBlockRequest(namespace="nexus", block=block))
        ).block.block_id

    block_id = await new_block()
    counts |= {
        "CreateMemoryBlock": await counter.least_round_trips(new_block),
        "UpdateMemoryBlock": await counter.least_round_trips(
            lambda: stub.UpdateMemoryBlock(
                _masked(
                    pb.UpdateMemoryBlockRequest(
                        namespace="nexus", block=identity_pb2.MemoryBlock(block_id=block_id, value="changed")
                    ),
                    "value",
                )
            )
        ),
        "DeleteMemoryBlock": await _least_round_trips_of_each(
            counter,
            new_block,
            lambda made: stub.DeleteMemoryBlock(pb.DeleteMemoryBlockRequest(namespace="nexus", block_id=made)),
        ),
    }

    async def new_item() -> str:
        item = working_memory_pb2.WorkingMemoryItem(context_type="rt")
        item.content.update({"step": 1})
        response = await stub.CreateWorkingMemoryItem(pb.CreateWorkingMemoryItemRequest(namespace="nexus", item=item))
        return response.item.item_id

    item_id = await new_item()
    changed_item = working_memory_pb2.WorkingMemoryItem(item_id=item_id)
    changed_item.content.update({"step": 2})
    counts |= {
        "CreateWorkingMemoryItem": await counter.least_round_trips(new_item),
        "UpdateWorkingMemoryItem": await counter.least_round_trips(
            lambda: stub.UpdateWorkingMemoryItem(
                _masked(pb.UpdateWorkingMemoryItemRequest(namespace="nexus", item=changed_item), "content")
            )
        ),
        "DeleteWorkingMemoryItem": await _least_round_trips_of_each(
            counter,
            new_item,
            lambda made: stub.DeleteWorkingMemoryItem(
                pb.DeleteWorkingMemoryItemRequest(namespace="nexus", item_id=made)
            ),
        ),
    }

    checkpoint = identity_pb2.Checkpoint(checkpoint_type="rt")
    checkpoint.state_data.update({"phase": 1})
    state = identity_pb2.ConsciousnessState(current_focus="round trips")
    state.emotional_vector.CopyFrom(identity_pb2.EmotionalVector(focus=0.5, energy=0.5, excitement=0.5))
    counts |= {
        "CreateCheckpoint": await counter.least_round_trips(
            lambda: stub.CreateCheckpoint(pb.CreateCheckpointRequest(namespace="nexus", checkpoint=checkpoint))
        ),
        "UpdateConsciousnessState": await counter.least_round_trips(
            lambda: stub.UpdateConsciousnessState(
                _masked(
                    pb.UpdateConsciousnessStateRequest(namespace="nexus", state=state),
                    "current_focus",
                    "emotional_vector",
                )
            )
        ),
        "Heartbeat": await counter.least_round_trips(lambda: stub.Heartbeat(pb.HeartbeatRequest(namespace="nexus"))),
    }

    async def new_semantic_memory() -> str:
        response = await stub.CreateSemanticMemory(
            pb.CreateSemanticMemoryRequest(
                namespace="nexus", semantic_memory=semantic_pb2.SemanticMemory(concept="round trip", definition="one")
            )
        )
        return response.semantic_memory.semantic_memory_id

    semantic_memory_id = await new_semantic_memory()
    counts |= {
        "CreateSemanticMemory": await counter.least_round_trips(new_semantic_memory),
        "UpdateSemanticMemory": await counter.least_round_trips(
            lambda: stub.UpdateSemanticMemory(
                _masked(
                    pb.UpdateSemanticMemoryRequest(
                        namespace="nexus",
                        semantic_memory=semantic_pb2.SemanticMemory(
                            semantic_memory_id=semantic_memory_id, definition="changed", confidence=0.9
                        ),
                    ),
                    "definition",
                    "confidence",
                )
            )
        ),
        "DeleteSemanticMemory": await _least_round_trips_of_each(
            counter,
            new_semantic_memory,
            lambda made: stub.DeleteSemanticMemory(
                pb.DeleteSemanticMemoryRequest(namespace="nexus", semantic_memory_id=made)
            ),
        ),
    }
    assert counts == dict.fromkeys(counts, 1)


async def _refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return error.value


async def test_the_single_statement_writes_keep_their_errors(memory: MemoryServer, admin: asyncpg.Connection) -> None:
    """Missing namespace or resource, conflicts, refusals and idempotent retries, as before migration 0011."""
    stub = memory.stub
    item = working_memory_pb2.WorkingMemoryItem(context_type="errors")
    item.content.update({"k": "v"})
    checkpoint = identity_pb2.Checkpoint(checkpoint_type="errors")
    checkpoint.state_data.update({"k": "v"})
    project = namespaces_pb2.Project(display_name="errors", dna="errors_dna")
    block = identity_pb2.MemoryBlock(label="errors", value="twelve chars", char_limit=20)
    concept = semantic_pb2.SemanticMemory(concept="errors")
    missing = str(uuid.uuid4())

    def creations(namespace: str, request_id: str = "") -> dict[str, Awaitable[Any]]:
        return {
            "project": stub.CreateProject(
                pb.CreateProjectRequest(namespace=namespace, project=project, request_id=request_id)
            ),
            "block": stub.CreateMemoryBlock(
                pb.CreateMemoryBlockRequest(namespace=namespace, block=block, request_id=request_id)
            ),
            "item": stub.CreateWorkingMemoryItem(
                pb.CreateWorkingMemoryItemRequest(namespace=namespace, item=item, request_id=request_id)
            ),
            "checkpoint": stub.CreateCheckpoint(
                pb.CreateCheckpointRequest(namespace=namespace, checkpoint=checkpoint, request_id=request_id)
            ),
            "semantic memory": stub.CreateSemanticMemory(
                pb.CreateSemanticMemoryRequest(namespace=namespace, semantic_memory=concept, request_id=request_id)
            ),
        }

    def changes(namespace: str, resource_id: str) -> list[Awaitable[Any]]:
        changed_item = working_memory_pb2.WorkingMemoryItem(item_id=resource_id, priority=1)
        return [
            stub.UpdateProject(
                _masked(
                    pb.UpdateProjectRequest(
                        namespace=namespace, project=namespaces_pb2.Project(project_id=resource_id, description="x")
                    ),
                    "description",
                )
            ),
            stub.DeleteProject(pb.DeleteProjectRequest(namespace=namespace, project_id=resource_id)),
            stub.UpdateMemoryBlock(
                _masked(
                    pb.UpdateMemoryBlockRequest(
                        namespace=namespace, block=identity_pb2.MemoryBlock(block_id=resource_id, value="x")
                    ),
                    "value",
                )
            ),
            stub.DeleteMemoryBlock(pb.DeleteMemoryBlockRequest(namespace=namespace, block_id=resource_id)),
            stub.UpdateWorkingMemoryItem(
                _masked(pb.UpdateWorkingMemoryItemRequest(namespace=namespace, item=changed_item), "priority")
            ),
            stub.DeleteWorkingMemoryItem(pb.DeleteWorkingMemoryItemRequest(namespace=namespace, item_id=resource_id)),
            stub.UpdateSemanticMemory(
                _masked(
                    pb.UpdateSemanticMemoryRequest(
                        namespace=namespace,
                        semantic_memory=semantic_pb2.SemanticMemory(semantic_memory_id=resource_id, definition="x"),
                    ),
                    "definition",
                )
            ),
            stub.DeleteSemanticMemory(
                pb.DeleteSemanticMemoryRequest(namespace=namespace, semantic_memory_id=resource_id)
            ),
        ]

    # A namespace that does not exist: NOT_FOUND naming it, for every write.
    state = identity_pb2.ConsciousnessState(current_focus="x")
    for call in [
        *creations("nobody").values(),
        *changes("nobody", missing),
        stub.UpdateConsciousnessState(
            _masked(pb.UpdateConsciousnessStateRequest(namespace="nobody", state=state), "current_focus")
        ),
        stub.Heartbeat(pb.HeartbeatRequest(namespace="nobody")),
    ]:
        error = await _refused(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND and "nobody" in (error.details() or "")

    # A resource the namespace does not have: NOT_FOUND naming the resource.
    for call in changes("nexus", missing):
        error = await _refused(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND and missing in (error.details() or "")

    # Idempotent creates: a retry gets the first row; the same id for another request is ALREADY_EXISTS.
    request_id = str(uuid.uuid4())
    first = {kind: await call for kind, call in creations("nexus", request_id).items()}
    again = {kind: await call for kind, call in creations("nexus", request_id).items()}
    assert again == first
    project.description = "another request"
    block.description = "another request"
    item.context_type = "another"
    checkpoint.checkpoint_type = "another"
    concept.definition = "another request"
    for kind, call in creations("nexus", request_id).items():
        error = await _refused(call)
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS, kind
        assert "different request" in (error.details() or ""), kind

    # Unique names: ALREADY_EXISTS, naming what is taken.
    taken = first["project"].project
    other = (
        await stub.CreateProject(
            pb.CreateProjectRequest(namespace="nexus", project=namespaces_pb2.Project(display_name="other"))
        )
    ).project
    error = await _refused(
        stub.UpdateProject(
            _masked(
                pb.UpdateProjectRequest(
                    namespace="nexus", project=namespaces_pb2.Project(project_id=other.project_id, dna=taken.dna)
                ),
                "dna",
            )
        )
    )
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS and "dna" in (error.details() or "")
    error = await _refused(stub.CreateMemoryBlock(pb.CreateMemoryBlockRequest(namespace="nexus", block=block)))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS and "labelled 'errors'" in (error.details() or "")

    # A block refuses what the function found it may not do, and stays as it was.
    writable = (await stub.GetMemoryBlock(pb.GetMemoryBlockRequest(namespace="nexus", label="errors"))).block
    too_long = await _refused(
        stub.UpdateMemoryBlock(
            _masked(
                pb.UpdateMemoryBlockRequest(
                    namespace="nexus", block=identity_pb2.MemoryBlock(block_id=writable.block_id, char_limit=5)
                ),
                "char_limit",
            )
        )
    )
    assert too_long.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(too_long) == [("block.value", "is 12 characters; the block's char_limit is 5")]
    stale = await _refused(
        stub.DeleteMemoryBlock(
            pb.DeleteMemoryBlockRequest(namespace="nexus", block_id=writable.block_id, expected_version=7)
        )
    )
    assert stale.code() == grpc.StatusCode.ABORTED and "at version 1, not 7" in (stale.details() or "")
    persona = (await stub.GetMemoryBlock(pb.GetMemoryBlockRequest(namespace="nexus", label="persona"))).block
    read_only = await _refused(
        stub.UpdateMemoryBlock(
            _masked(
                pb.UpdateMemoryBlockRequest(
                    namespace="nexus",
                    block=identity_pb2.MemoryBlock(block_id=persona.block_id, value="x"),
                    expected_version=7,
                ),
                "value",
            )
        )
    )
    assert read_only.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await stub.GetMemoryBlock(pb.GetMemoryBlockRequest(namespace="nexus", label="errors"))).block == writable
    assert (
        await admin.fetchval(
            "SELECT count(*) FROM memory.memory_block_revisions WHERE block_id = $1", uuid.UUID(writable.block_id)
        )
        == 1
    )
