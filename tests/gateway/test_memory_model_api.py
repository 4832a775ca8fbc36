"""The rest of the memory model through the gateway: projects, correcting and forgetting episodes, deleting
working memory, checkpoints, block revisions and knowledge; end to end over gRPC to the real memory service.

Each resource also has a test that another namespace can neither read nor change it (without a grant, and
with a read grant, which allows reading and still no change).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from google.protobuf.json_format import MessageToDict, ParseDict

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import episodes_pb2, namespaces_pb2
from services.gateway.store import keys
from services.gateway.store.credentials import Scope
from tests.gateway.harness import Mesh, Metadata, bearer, violated_fields

Agents = tuple[Metadata, Metadata, str]


@pytest.fixture
async def agent(mesh: Mesh, namespace: str) -> Metadata:
    return bearer((await mesh.issue(namespace)).token)


@pytest.fixture
async def two_agents(mesh: Mesh) -> Agents:
    """An owner and another agent (its namespace), which no grant links yet."""
    suffix = uuid.uuid4().hex[:8]
    owner = bearer((await mesh.issue(f"owner-{suffix}")).token)
    other = bearer((await mesh.issue(f"other-{suffix}")).token)
    return owner, other, f"owner-{suffix}"


async def code_of(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def fields_of(call: Awaitable[object]) -> list[str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return violated_fields(caught.value)


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=paths)


async def granted(mesh: Mesh, owner_namespace: str, other: Metadata) -> str:
    """Grant the other agent's namespace read access to the owner's; returns the other's namespace."""
    stats = await mesh.gateway.stub.GetStats(pb.GetStatsRequest(), metadata=other)
    connection = await mesh.admin()
    try:
        await keys.grant_read(connection, owner_namespace, stats.namespace)
    finally:
        await connection.close()
    return stats.namespace


# --- projects ------------------------------------------------------------------------------------------


async def test_projects_create_get_list_archive(mesh: Mesh, agent: Metadata) -> None:
    stub = mesh.gateway.stub
    request = pb.CreateProjectRequest(
        project={"display_name": "Gateway coverage", "dna": "cerebro_gateway_001", "description": "issue 15"},
        request_id=str(uuid.uuid4()),
    )
    created = (await stub.CreateProject(request, metadata=agent)).project
    assert created.status == namespaces_pb2.PROJECT_STATUS_ACTIVE
    again = (await stub.CreateProject(request, metadata=agent)).project
    assert again.project_id == created.project_id  # the same request_id stores once
    other = (
        await stub.CreateProject(pb.CreateProjectRequest(project={"display_name": "Other"}), metadata=agent)
    ).project
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await stub.CreateProject(pb.CreateProjectRequest(project={"display_name": "Gateway coverage"}), metadata=agent)
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS

    fetched = await stub.GetProject(pb.GetProjectRequest(project_id=created.project_id), metadata=agent)
    assert (fetched.project.display_name, fetched.project.dna) == ("Gateway coverage", "cerebro_gateway_001")
    first = await stub.ListProjects(pb.ListProjectsRequest(page_size=1), metadata=agent)
    second = await stub.ListProjects(
        pb.ListProjectsRequest(page_size=1, page_token=first.next_page_token), metadata=agent
    )
    assert [p.project_id for p in [*first.projects, *second.projects]] == [other.project_id, created.project_id]
    assert not second.next_page_token

    # An episode names the project; archiving keeps it and its episodes.
    episode = (
        await stub.Remember(pb.RememberRequest(content="in the project", project_id=created.project_id), metadata=agent)
    ).episode
    archived = (
        await stub.ArchiveProject(pb.ArchiveProjectRequest(project_id=created.project_id), metadata=agent)
    ).project
    assert archived.status == namespaces_pb2.PROJECT_STATUS_ARCHIVED
    assert (
        await stub.ArchiveProject(pb.ArchiveProjectRequest(project_id=created.project_id), metadata=agent)
    ).project.status == namespaces_pb2.PROJECT_STATUS_ARCHIVED
    only_archived = await stub.ListProjects(
        pb.ListProjectsRequest(status=namespaces_pb2.PROJECT_STATUS_ARCHIVED), metadata=agent
    )
    assert [p.project_id for p in only_archived.projects] == [created.project_id]
    listed = await stub.ListRecentEpisodes(
        pb.ListRecentEpisodesRequest(filter={"project_id": created.project_id}), metadata=agent
    )
    assert [e.episode_id for e in listed.episodes] == [episode.episode_id]


async def test_bad_project_requests_name_the_field(mesh: Mesh, agent: Metadata) -> None:
    stub = mesh.gateway.stub
    assert await fields_of(stub.CreateProject(pb.CreateProjectRequest(project={}), metadata=agent)) == [
        "project.display_name"
    ]
    assert await fields_of(
        stub.CreateProject(pb.CreateProjectRequest(project={"display_name": "x"}, request_id="nope"), metadata=agent)
    ) == ["request_id"]
    assert await fields_of(stub.GetProject(pb.GetProjectRequest(project_id="nope"), metadata=agent)) == ["project_id"]
    assert await fields_of(stub.ArchiveProject(pb.ArchiveProjectRequest(project_id="nope"), metadata=agent)) == [
        "project_id"
    ]
    assert await fields_of(stub.ListProjects(pb.ListProjectsRequest(page_token="forged"), metadata=agent)) == [
        "page_token"
    ]
    missing = await code_of(stub.ArchiveProject(pb.ArchiveProjectRequest(project_id=str(uuid.uuid4())), metadata=agent))
    assert missing == grpc.StatusCode.NOT_FOUND


async def test_another_namespace_can_neither_read_nor_change_projects(mesh: Mesh, two_agents: Agents) -> None:
    owner, other, owner_ns = two_agents
    stub = mesh.gateway.stub
    project = (
        await stub.CreateProject(pb.CreateProjectRequest(project={"display_name": "secret"}), metadata=owner)
    ).project
    pid = project.project_id
    assert await code_of(stub.GetProject(pb.GetProjectRequest(project_id=pid), metadata=other)) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert not (await stub.ListProjects(pb.ListProjectsRequest(), metadata=other)).projects
    for call in (
        stub.GetProject(pb.GetProjectRequest(project_id=pid, namespace=owner_ns), metadata=other),
        stub.ListProjects(pb.ListProjectsRequest(namespace=owner_ns), metadata=other),
    ):
        assert await code_of(call) == grpc.StatusCode.PERMISSION_DENIED
    assert await code_of(stub.ArchiveProject(pb.ArchiveProjectRequest(project_id=pid), metadata=other)) == (
        grpc.StatusCode.NOT_FOUND
    )
    # Nor can the other namespace file its episodes under the project.
    assert await fields_of(stub.Remember(pb.RememberRequest(content="x", project_id=pid), metadata=other)) == [
        "project_id"
    ]

    await granted(mesh, owner_ns, other)
    read = await stub.GetProject(pb.GetProjectRequest(project_id=pid, namespace=owner_ns), metadata=other)
    assert read.project.display_name == "secret"
    listed = await stub.ListProjects(pb.ListProjectsRequest(namespace=owner_ns), metadata=other)
    assert [p.project_id for p in listed.projects] == [pid]
    assert await code_of(stub.ArchiveProject(pb.ArchiveProjectRequest(project_id=pid), metadata=other)) == (
        grpc.StatusCode.NOT_FOUND
    )
    after = await stub.GetProject(pb.GetProjectRequest(project_id=pid), metadata=owner)
    assert after.project.status == namespaces_pb2.PROJECT_STATUS_ACTIVE


# --- episodes --------------------------------------------------------------------------------------------


async def embedding_job(mesh: Mesh, episode_id: str) -> tuple[str, bytes]:
    connection = await mesh.admin()
    try:
        row = await connection.fetchrow(
            "SELECT state, content_checksum FROM memory.embeddings_queue WHERE episode_id = $1", uuid.UUID(episode_id)
        )
    finally:
        await connection.close()
    assert row is not None
    return row["state"], row["content_checksum"]


async def embed_now(mesh: Mesh, episode_id: str) -> None:
    """What the embeddings worker does for an episode (no worker runs in this mesh): complete its job and
    store its vector (migration 0008)."""
    connection = await mesh.admin()
    try:
        async with connection.transaction():
            await connection.execute(
                "UPDATE memory.embeddings_queue SET state = 'done', completed_at = now() WHERE episode_id = $1",
                uuid.UUID(episode_id),
            )
            await connection.execute(
                """INSERT INTO memory.episode_vectors (episode_id, namespace, embedding, embedding_version)
                   SELECT episode_id, namespace, array_fill(0.05, ARRAY[384])::vector, 'test-model'
                   FROM memory.episodes WHERE episode_id = $1""",
                uuid.UUID(episode_id),
            )
    finally:
        await connection.close()


async def vector_count(mesh: Mesh, episode_ids: list[str]) -> int:
    connection = await mesh.admin()
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM memory.episode_vectors WHERE episode_id = ANY($1::uuid[])",
            [uuid.UUID(episode_id) for episode_id in episode_ids],
        )
    finally:
        await connection.close()
    return count


async def test_update_episode_content_re_embeds_it(mesh: Mesh, agent: Metadata) -> None:
    stub = mesh.gateway.stub
    episode = (await stub.Remember(pb.RememberRequest(content="the backoff is linear"), metadata=agent)).episode
    await embed_now(mesh, episode.episode_id)
    updated = (
        await stub.UpdateEpisode(
            pb.UpdateEpisodeRequest(
                episode={"episode_id": episode.episode_id, "content": "the backoff is exponential with jitter"},
                update_mask=mask("content"),
            ),
            metadata=agent,
        )
    ).episode
    assert updated.content == "the backoff is exponential with jitter"
    assert updated.embedding_state == episodes_pb2.EMBEDDING_STATE_PENDING and not updated.embedding_version
    assert await vector_count(mesh, [episode.episode_id]) == 0  # the old vector went with the old content
    state, checksum = await embedding_job(mesh, episode.episode_id)
    assert (state, checksum) == ("pending", hashlib.sha256(updated.content.encode()).digest())
    found = await stub.Recall(pb.RecallRequest(query="jitter", mode=episodes_pb2.SEARCH_MODE_TEXT), metadata=agent)
    assert [hit.episode.episode_id for hit in found.hits] == [episode.episode_id]
    assert not (
        await stub.Recall(pb.RecallRequest(query="linear", mode=episodes_pb2.SEARCH_MODE_TEXT), metadata=agent)
    ).hits


async def test_update_episode_tags_importance_metadata_keeps_the_action(mesh: Mesh, agent: Metadata) -> None:
    stub = mesh.gateway.stub
    action = (
        await stub.Remember(
            pb.RememberRequest(action_type="deploy", action_details={"version": "1.2"}, tags=["ops"]), metadata=agent
        )
    ).episode
    await embed_now(mesh, action.episode_id)
    metadata = struct_pb2.Struct()
    metadata.update({"reviewed": True})
    updated = (
        await stub.UpdateEpisode(
            pb.UpdateEpisodeRequest(
                episode={
                    "episode_id": action.episode_id,
                    "tags": ["ops", "reviewed"],
                    "importance": 0.9,
                    "metadata": metadata,
                    "content": "ignored: not in the mask",
                },
                update_mask=mask("tags", "importance", "metadata"),
            ),
            metadata=agent,
        )
    ).episode
    assert list(updated.tags) == ["ops", "reviewed"] and updated.importance == pytest.approx(0.9)
    stored = MessageToDict(updated.metadata)
    assert stored["reviewed"] is True and stored["action"]["action_type"] == "deploy"
    # No content change: the vector stays.
    assert updated.content == action.content and updated.embedding_state == episodes_pb2.EMBEDDING_STATE_EMBEDDED


@pytest.mark.parametrize(
    ("episode", "paths", "fields"),
    [
        ({"episode_id": "nope", "content": "x"}, ["content"], ["episode.episode_id"]),
        ({"content": "x"}, [], ["update_mask"]),
        ({"content": "x"}, ["occur_time"], ["update_mask"]),
        ({"metadata": {"action": "mine"}}, ["metadata"], ["episode.metadata.action"]),
        # Checked by the memory service.
        ({"content": "   "}, ["content"], ["episode.content"]),
        ({"importance": 2.0}, ["importance"], ["episode.importance"]),
        ({"tags": ["a", "a"]}, ["tags"], ["episode.tags[1]"]),
    ],
)
async def test_bad_episode_updates_name_the_field_and_change_nothing(
    mesh: Mesh, agent: Metadata, episode: dict[str, object], paths: list[str], fields: list[str]
) -> None:
    stub = mesh.gateway.stub
    original = (await stub.Remember(pb.RememberRequest(content="as it was", tags=["t"]), metadata=agent)).episode
    request = pb.UpdateEpisodeRequest(update_mask=mask(*paths))
    request.episode.episode_id = original.episode_id
    ParseDict(episode, request.episode)
    assert await fields_of(stub.UpdateEpisode(request, metadata=agent)) == fields
    [after] = (await stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(), metadata=agent)).episodes
    assert (after.content, list(after.tags), after.update_time) == ("as it was", ["t"], original.update_time)


async def test_delete_episode(mesh: Mesh, agent: Metadata) -> None:
    stub = mesh.gateway.stub
    kept = (await stub.Remember(pb.RememberRequest(content="kept"), metadata=agent)).episode
    gone = (await stub.Remember(pb.RememberRequest(content="gone"), metadata=agent)).episode
    await stub.DeleteEpisode(pb.DeleteEpisodeRequest(episode_id=gone.episode_id), metadata=agent)
    listed = await stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(), metadata=agent)
    assert [e.episode_id for e in listed.episodes] == [kept.episode_id]
    again = await code_of(stub.DeleteEpisode(pb.DeleteEpisodeRequest(episode_id=gone.episode_id), metadata=agent))
    assert again == grpc.StatusCode.NOT_FOUND
    assert await fields_of(stub.DeleteEpisode(pb.DeleteEpisodeRequest(episode_id="nope"), metadata=agent)) == [
        "episode_id"
    ]


async def test_forget_counts_in_a_dry_run_then_forgets(mesh: Mesh, agent: Metadata) -> None:
    stub = mesh.gateway.stub
    stale = [
        (await stub.Remember(pb.RememberRequest(content=f"stale {i}", tags=["stale"]), metadata=agent)).episode
        for i in range(3)
    ]
    kept = (await stub.Remember(pb.RememberRequest(content="fresh", tags=["fresh"]), metadata=agent)).episode
    for episode in [*stale, kept]:
        await embed_now(mesh, episode.episode_id)
    dry = await stub.ForgetEpisodes(pb.ForgetEpisodesRequest(filter={"tags": ["stale"]}), metadata=agent)
    assert dry.forget_count == 3
    assert list(dry.forget_sample) == [e.episode_id for e in reversed(stale)]  # newest first
    assert len((await stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(), metadata=agent)).episodes) == 4

    forgotten = await stub.ForgetEpisodes(
        pb.ForgetEpisodesRequest(filter={"tags": ["stale"]}, force=True), metadata=agent
    )
    assert forgotten.forget_count == 3 and set(forgotten.forget_sample) == {e.episode_id for e in stale}
    listed = await stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(), metadata=agent)
    assert [e.episode_id for e in listed.episodes] == [kept.episode_id]
    # Their embedding jobs went with them.
    connection = await mesh.admin()
    try:
        jobs = await connection.fetchval(
            "SELECT count(*) FROM memory.embeddings_queue WHERE episode_id = ANY($1::uuid[])",
            [uuid.UUID(e.episode_id) for e in stale],
        )
    finally:
        await connection.close()
    assert jobs == 0
    assert await vector_count(mesh, [e.episode_id for e in stale]) == 0
    assert await vector_count(mesh, [kept.episode_id]) == 1
    repeated = await stub.ForgetEpisodes(
        pb.ForgetEpisodesRequest(filter={"tags": ["stale"]}, force=True), metadata=agent
    )
    assert (repeated.forget_count, list(repeated.forget_sample)) == (0, [])


@pytest.mark.parametrize(
    ("filter", "fields"),
    [
        ({}, ["filter"]),
        ({"tags": ["a", "a"]}, ["filter.tags[1]"]),
        ({"project_id": "nope"}, ["filter.project_id"]),
        ({"min_importance": 1.5}, ["filter.min_importance"]),
    ],
)
async def test_bad_forget_requests_name_the_field_and_forget_nothing(
    mesh: Mesh, agent: Metadata, filter: dict[str, object], fields: list[str]
) -> None:
    stub = mesh.gateway.stub
    await stub.Remember(pb.RememberRequest(content="still here", tags=["a"]), metadata=agent)
    assert await fields_of(
        stub.ForgetEpisodes(pb.ForgetEpisodesRequest(filter=filter, force=True), metadata=agent)
    ) == (fields)
    assert len((await stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(), metadata=agent)).episodes) == 1


async def test_another_namespace_can_neither_change_nor_forget_episodes(mesh: Mesh, two_agents: Agents) -> None:
    owner, other, owner_ns = two_agents
    stub = mesh.gateway.stub
    episode = (await stub.Remember(pb.RememberRequest(content="owner's", tags=["mine"]), metadata=owner)).episode
    await granted(mesh, owner_ns, other)  # even with read access
    changes = [
        stub.UpdateEpisode(
            pb.UpdateEpisodeRequest(
                episode={"episode_id": episode.episode_id, "content": "x"}, update_mask=mask("content")
            ),
            metadata=other,
        ),
        stub.DeleteEpisode(pb.DeleteEpisodeRequest(episode_id=episode.episode_id), metadata=other),
    ]
    assert [await code_of(call) for call in changes] == [grpc.StatusCode.NOT_FOUND] * 2
    forgot = await stub.ForgetEpisodes(pb.ForgetEpisodesRequest(filter={"tags": ["mine"]}, force=True), metadata=other)
    assert forgot.forget_count == 0
    [after] = (await stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(), metadata=owner)).episodes
    assert (after.episode_id, after.content) == (episode.episode_id, "owner's")


# --- working memory ---------------------------------------------------------------------------------------


async def test_delete_working_memory_item(mesh: Mesh, two_agents: Agents) -> None:
    owner, other, owner_ns = two_agents
    stub = mesh.gateway.stub
    item = (
        await stub.PutWorkingMemoryItem(
            pb.PutWorkingMemoryItemRequest(item={"context_type": "task", "content": {"fields": {}}}), metadata=owner
        )
    ).item
    await granted(mesh, owner_ns, other)
    for call in (
        stub.GetWorkingMemoryItem(pb.GetWorkingMemoryItemRequest(item_id=item.item_id), metadata=other),
        stub.DeleteWorkingMemoryItem(pb.DeleteWorkingMemoryItemRequest(item_id=item.item_id), metadata=other),
    ):
        assert await code_of(call) == grpc.StatusCode.NOT_FOUND
    assert (await stub.GetWorkingMemoryItem(pb.GetWorkingMemoryItemRequest(item_id=item.item_id), metadata=owner)).item
    assert await fields_of(
        stub.DeleteWorkingMemoryItem(pb.DeleteWorkingMemoryItemRequest(item_id="nope"), metadata=owner)
    ) == ["item_id"]

    await stub.DeleteWorkingMemoryItem(pb.DeleteWorkingMemoryItemRequest(item_id=item.item_id), metadata=owner)
    # Gone from PostgreSQL and from the Redis cache.
    assert (
        await code_of(stub.GetWorkingMemoryItem(pb.GetWorkingMemoryItemRequest(item_id=item.item_id), metadata=owner))
        == grpc.StatusCode.NOT_FOUND
    )
    assert not (await stub.ListWorkingMemoryItems(pb.ListWorkingMemoryItemsRequest(), metadata=owner)).items


# --- checkpoints -----------------------------------------------------------------------------------------


async def test_checkpoints_list_and_get(mesh: Mesh, two_agents: Agents) -> None:
    owner, other, owner_ns = two_agents
    stub = mesh.gateway.stub
    created = []
    for kind in ("session", "milestone", "session"):
        response = await stub.CreateCheckpoint(
            pb.CreateCheckpointRequest(checkpoint={"checkpoint_type": kind, "state_data": {"fields": {}}}),
            metadata=owner,
        )
        created.append(response.checkpoint.checkpoint_id)
    listed = await stub.ListCheckpoints(pb.ListCheckpointsRequest(page_size=2), metadata=owner)
    rest = await stub.ListCheckpoints(
        pb.ListCheckpointsRequest(page_size=2, page_token=listed.next_page_token), metadata=owner
    )
    assert [c.checkpoint_id for c in [*listed.checkpoints, *rest.checkpoints]] == created[::-1]
    sessions = await stub.ListCheckpoints(pb.ListCheckpointsRequest(checkpoint_type="session"), metadata=owner)
    assert [c.checkpoint_id for c in sessions.checkpoints] == [created[2], created[0]]
    fetched = await stub.GetCheckpoint(pb.GetCheckpointRequest(checkpoint_id=created[1]), metadata=owner)
    assert fetched.checkpoint.checkpoint_type == "milestone"
    assert await fields_of(stub.GetCheckpoint(pb.GetCheckpointRequest(checkpoint_id="nope"), metadata=owner)) == [
        "checkpoint_id"
    ]

    await granted(mesh, owner_ns, other)  # checkpoints are the owner's alone, granted or not
    assert await code_of(stub.GetCheckpoint(pb.GetCheckpointRequest(checkpoint_id=created[1]), metadata=other)) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert not (await stub.ListCheckpoints(pb.ListCheckpointsRequest(), metadata=other)).checkpoints


# --- block revisions -------------------------------------------------------------------------------------


async def test_block_revisions(mesh: Mesh, two_agents: Agents) -> None:
    owner, other, owner_ns = two_agents
    stub = mesh.gateway.stub
    await stub.CreateMemoryBlock(pb.CreateMemoryBlockRequest(block={"label": "persona", "value": "v1"}), metadata=owner)
    for value in ("v2", "v3"):
        await stub.UpdateMemoryBlock(
            pb.UpdateMemoryBlockRequest(block={"label": "persona", "value": value}, update_mask=mask("value")),
            metadata=owner,
        )
    first = await stub.ListMemoryBlockRevisions(
        pb.ListMemoryBlockRevisionsRequest(label="persona", page_size=2), metadata=owner
    )
    rest = await stub.ListMemoryBlockRevisions(
        pb.ListMemoryBlockRevisionsRequest(label="persona", page_size=2, page_token=first.next_page_token),
        metadata=owner,
    )
    assert [(r.version, r.value) for r in [*first.revisions, *rest.revisions]] == [(3, "v3"), (2, "v2"), (1, "v1")]
    assert await fields_of(stub.ListMemoryBlockRevisions(pb.ListMemoryBlockRevisionsRequest(), metadata=owner)) == [
        "label"
    ]
    assert (
        await code_of(
            stub.ListMemoryBlockRevisions(pb.ListMemoryBlockRevisionsRequest(label="nothing"), metadata=owner)
        )
        == grpc.StatusCode.NOT_FOUND
    )

    # The other namespace's own "persona" does not exist; the owner's needs a grant.
    assert (
        await code_of(
            stub.ListMemoryBlockRevisions(pb.ListMemoryBlockRevisionsRequest(label="persona"), metadata=other)
        )
        == grpc.StatusCode.NOT_FOUND
    )
    of_owner = pb.ListMemoryBlockRevisionsRequest(label="persona", namespace=owner_ns)
    assert await code_of(stub.ListMemoryBlockRevisions(of_owner, metadata=other)) == grpc.StatusCode.PERMISSION_DENIED
    await granted(mesh, owner_ns, other)
    read = await stub.ListMemoryBlockRevisions(of_owner, metadata=other)
    assert [r.version for r in read.revisions] == [3, 2, 1]


# --- knowledge -------------------------------------------------------------------------------------------


async def test_knowledge_get_lookup_list_delete(mesh: Mesh, agent: Metadata) -> None:
    stub = mesh.gateway.stub

    async def upsert(concept: str, definition: str) -> str:
        response = await stub.UpsertKnowledge(
            pb.UpsertKnowledgeRequest(knowledge={"concept": concept, "definition": definition}), metadata=agent
        )
        return response.knowledge.semantic_memory_id

    old = await upsert("Reconnect backoff", "linear")
    other = await upsert("quorum", "two thirds")
    new = await upsert("reconnect backoff", "exponential with jitter")

    fetched = await stub.GetKnowledge(pb.GetKnowledgeRequest(semantic_memory_id=other), metadata=agent)
    assert fetched.knowledge.concept == "quorum"
    looked_up = await stub.LookupKnowledge(pb.LookupKnowledgeRequest(concept="RECONNECT BACKOFF"), metadata=agent)
    assert looked_up.knowledge.semantic_memory_id == new  # the newest of the concept, ignoring case
    first = await stub.ListKnowledge(pb.ListKnowledgeRequest(page_size=2), metadata=agent)
    rest = await stub.ListKnowledge(
        pb.ListKnowledgeRequest(page_size=2, page_token=first.next_page_token), metadata=agent
    )
    assert [k.semantic_memory_id for k in [*first.knowledge, *rest.knowledge]] == [new, other, old]
    of_concept = await stub.ListKnowledge(pb.ListKnowledgeRequest(concept="reconnect backoff"), metadata=agent)
    assert [k.semantic_memory_id for k in of_concept.knowledge] == [new, old]

    await stub.DeleteKnowledge(pb.DeleteKnowledgeRequest(semantic_memory_id=new), metadata=agent)
    assert (
        await stub.LookupKnowledge(pb.LookupKnowledgeRequest(concept="reconnect backoff"), metadata=agent)
    ).knowledge.semantic_memory_id == old
    assert await code_of(stub.GetKnowledge(pb.GetKnowledgeRequest(semantic_memory_id=new), metadata=agent)) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert (
        await code_of(stub.DeleteKnowledge(pb.DeleteKnowledgeRequest(semantic_memory_id=new), metadata=agent))
        == grpc.StatusCode.NOT_FOUND
    )
    assert await code_of(stub.LookupKnowledge(pb.LookupKnowledgeRequest(concept="unknown"), metadata=agent)) == (
        grpc.StatusCode.NOT_FOUND
    )


@pytest.mark.parametrize(
    ("call", "fields"),
    [
        (
            lambda stub, md: stub.GetKnowledge(pb.GetKnowledgeRequest(semantic_memory_id="nope"), metadata=md),
            ["semantic_memory_id"],
        ),
        (lambda stub, md: stub.LookupKnowledge(pb.LookupKnowledgeRequest(), metadata=md), ["concept"]),
        (lambda stub, md: stub.LookupKnowledge(pb.LookupKnowledgeRequest(concept="  "), metadata=md), ["concept"]),
        (lambda stub, md: stub.LookupKnowledge(pb.LookupKnowledgeRequest(concept="c" * 501), metadata=md), ["concept"]),
        (lambda stub, md: stub.ListKnowledge(pb.ListKnowledgeRequest(concept="c" * 501), metadata=md), ["concept"]),
        (lambda stub, md: stub.ListKnowledge(pb.ListKnowledgeRequest(page_size=-1), metadata=md), ["page_size"]),
        (
            lambda stub, md: stub.DeleteKnowledge(pb.DeleteKnowledgeRequest(semantic_memory_id="nope"), metadata=md),
            ["semantic_memory_id"],
        ),
    ],
)
async def test_bad_knowledge_requests_name_the_field(
    mesh: Mesh, agent: Metadata, call: Callable[..., Awaitable[object]], fields: list[str]
) -> None:
    assert await fields_of(call(mesh.gateway.stub, agent)) == fields


async def test_another_namespace_can_neither_read_nor_change_knowledge(mesh: Mesh, two_agents: Agents) -> None:
    owner, other, owner_ns = two_agents
    stub = mesh.gateway.stub
    kid = (
        await stub.UpsertKnowledge(
            pb.UpsertKnowledgeRequest(knowledge={"concept": "private plan", "definition": "x"}), metadata=owner
        )
    ).knowledge.semantic_memory_id
    assert await code_of(stub.GetKnowledge(pb.GetKnowledgeRequest(semantic_memory_id=kid), metadata=other)) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert await code_of(stub.LookupKnowledge(pb.LookupKnowledgeRequest(concept="private plan"), metadata=other)) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert not (await stub.ListKnowledge(pb.ListKnowledgeRequest(), metadata=other)).knowledge
    of_owner = [
        stub.GetKnowledge(pb.GetKnowledgeRequest(semantic_memory_id=kid, namespace=owner_ns), metadata=other),
        stub.LookupKnowledge(pb.LookupKnowledgeRequest(concept="private plan", namespace=owner_ns), metadata=other),
        stub.ListKnowledge(pb.ListKnowledgeRequest(namespace=owner_ns), metadata=other),
    ]
    assert [await code_of(call) for call in of_owner] == [grpc.StatusCode.PERMISSION_DENIED] * 3

    await granted(mesh, owner_ns, other)
    got = await stub.GetKnowledge(pb.GetKnowledgeRequest(semantic_memory_id=kid, namespace=owner_ns), metadata=other)
    assert got.knowledge.concept == "private plan"
    looked = await stub.LookupKnowledge(
        pb.LookupKnowledgeRequest(concept="private plan", namespace=owner_ns), metadata=other
    )
    assert looked.knowledge.semantic_memory_id == kid
    listed = await stub.ListKnowledge(pb.ListKnowledgeRequest(namespace=owner_ns), metadata=other)
    assert [k.semantic_memory_id for k in listed.knowledge] == [kid]
    assert await code_of(stub.DeleteKnowledge(pb.DeleteKnowledgeRequest(semantic_memory_id=kid), metadata=other)) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert (await stub.GetKnowledge(pb.GetKnowledgeRequest(semantic_memory_id=kid), metadata=owner)).knowledge


# --- access ----------------------------------------------------------------------------------------------


async def test_read_only_keys_read_but_cannot_call_the_new_writes(mesh: Mesh, namespace: str) -> None:
    writer = bearer((await mesh.issue(namespace)).token)
    reader = bearer((await mesh.issue(namespace, scope=Scope.READ_ONLY)).token)
    stub = mesh.gateway.stub
    episode = (await stub.Remember(pb.RememberRequest(content="kept", tags=["t"]), metadata=writer)).episode
    project = (
        await stub.CreateProject(pb.CreateProjectRequest(project={"display_name": "p"}), metadata=writer)
    ).project
    item = (
        await stub.PutWorkingMemoryItem(
            pb.PutWorkingMemoryItemRequest(item={"context_type": "task", "content": {"fields": {}}}), metadata=writer
        )
    ).item
    knowledge = (
        await stub.UpsertKnowledge(pb.UpsertKnowledgeRequest(knowledge={"concept": "c"}), metadata=writer)
    ).knowledge
    writes = [
        stub.UpdateEpisode(
            pb.UpdateEpisodeRequest(
                episode={"episode_id": episode.episode_id, "content": "x"}, update_mask=mask("content")
            ),
            metadata=reader,
        ),
        stub.DeleteEpisode(pb.DeleteEpisodeRequest(episode_id=episode.episode_id), metadata=reader),
        # Even a dry run: the method forgets when forced, and the access is the method's.
        stub.ForgetEpisodes(pb.ForgetEpisodesRequest(filter={"tags": ["t"]}), metadata=reader),
        stub.CreateProject(pb.CreateProjectRequest(project={"display_name": "q"}), metadata=reader),
        stub.ArchiveProject(pb.ArchiveProjectRequest(project_id=project.project_id), metadata=reader),
        stub.DeleteWorkingMemoryItem(pb.DeleteWorkingMemoryItemRequest(item_id=item.item_id), metadata=reader),
        stub.DeleteKnowledge(
            pb.DeleteKnowledgeRequest(semantic_memory_id=knowledge.semantic_memory_id), metadata=reader
        ),
    ]
    assert [await code_of(call) for call in writes] == [grpc.StatusCode.PERMISSION_DENIED] * len(writes)
    reads = await asyncio.gather(
        stub.GetProject(pb.GetProjectRequest(project_id=project.project_id), metadata=reader),
        stub.ListProjects(pb.ListProjectsRequest(), metadata=reader),
        stub.ListCheckpoints(pb.ListCheckpointsRequest(), metadata=reader),
        stub.GetKnowledge(pb.GetKnowledgeRequest(semantic_memory_id=knowledge.semantic_memory_id), metadata=reader),
        stub.LookupKnowledge(pb.LookupKnowledgeRequest(concept="c"), metadata=reader),
        stub.ListKnowledge(pb.ListKnowledgeRequest(), metadata=reader),
    )
    assert reads[0].project.project_id == project.project_id
    # Nothing changed.
    [still] = (await stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(), metadata=writer)).episodes
    assert still.content == "kept"
