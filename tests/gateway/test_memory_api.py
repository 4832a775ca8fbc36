"""The agent's memory through the gateway, end to end over gRPC to the real memory service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, struct_pb2, timestamp_pb2
from google.protobuf.json_format import MessageToDict, ParseDict

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import resources_pb2
from cerebro.memory.v1 import episodes_pb2, working_memory_pb2
from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from services.gateway.api.system import memory_stats
from tests.gateway.harness import Mesh, bearer, violated_fields
from tests.transcoding.samples import filled

# Document 004's example of POST /memory/action, as an agent would send it.
DOCUMENT_004_ACTION = {
    "action_type": "system_optimization_complete",
    "action_details": {
        "from": "NEXUS",
        "achievement": "PostgreSQL optimizations applied successfully",
        "technical_summary": "37+ specialized indices created, 40% search improvement expected",
        "performance_metrics": {"indices_created": 37, "query_optimization": "40% improvement"},
    },
    "context_state": {"implementation_phase": "elite_optimization_complete", "system_readiness": "production"},
    "tags": ["optimization", "postgresql", "performance", "elite_system"],
}


@pytest.fixture
async def agent(mesh: Mesh, namespace: str) -> tuple[tuple[str, str], ...]:
    return bearer((await mesh.issue(namespace, instance_name=namespace.upper())).token)


async def test_remember_content_and_actions_then_recall(mesh: Mesh, agent: tuple[tuple[str, str], ...]) -> None:
    stub = mesh.gateway.stub
    plain = await stub.Remember(
        pb.RememberRequest(content="ARIA explained the consensus protocol", tags=["mesh"], importance=0.9),
        metadata=agent,
    )
    assert plain.episode.content == "ARIA explained the consensus protocol"
    assert plain.episode.importance == pytest.approx(0.9)
    action = await stub.Remember(ParseDict(DOCUMENT_004_ACTION, pb.RememberRequest()), metadata=agent)
    stored = MessageToDict(action.episode.metadata)["action"]
    assert stored["action_type"] == "system_optimization_complete"
    assert stored["action_details"]["performance_metrics"]["indices_created"] == 37
    assert stored["context_state"]["system_readiness"] == "production"
    assert action.episode.content.startswith("system_optimization_complete: ")
    assert list(action.episode.tags) == DOCUMENT_004_ACTION["tags"]

    found = await stub.Recall(pb.RecallRequest(query="PostgreSQL indices"), metadata=agent)
    assert [hit.episode.episode_id for hit in found.hits] == [action.episode.episode_id]
    filtered = await stub.Recall(
        pb.RecallRequest(query="consensus protocol", filter={"tags": ["mesh"], "min_importance": 0.8}), metadata=agent
    )
    assert [hit.episode.episode_id for hit in filtered.hits] == [plain.episode.episode_id]
    recent = await stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(page_size=1), metadata=agent)
    assert [episode.episode_id for episode in recent.episodes] == [action.episode.episode_id]
    older = await stub.ListRecentEpisodes(
        pb.ListRecentEpisodesRequest(page_size=1, page_token=recent.next_page_token), metadata=agent
    )
    assert [episode.episode_id for episode in older.episodes] == [plain.episode.episode_id]


async def test_remember_is_idempotent_by_request_id(mesh: Mesh, agent: tuple[tuple[str, str], ...]) -> None:
    request = pb.RememberRequest(request_id=str(uuid.uuid4()), content="said once")
    first = await mesh.gateway.stub.Remember(request, metadata=agent)
    again = await mesh.gateway.stub.Remember(request, metadata=agent)
    assert first.episode.episode_id == again.episode.episode_id
    listed = await mesh.gateway.stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(), metadata=agent)
    assert len(listed.episodes) == 1


@pytest.mark.parametrize(
    ("request_json", "fields"),
    [
        ({}, ["content"]),
        ({"content": "x", "action_type": "y"}, ["content"]),
        ({"content": "x", "action_details": {"a": 1}}, ["action_details"]),
        ({"action_type": "   "}, ["action_type"]),
        ({"content": "x", "metadata": {"action": "mine"}}, ["metadata.action"]),
        # Checked by the memory service, reported with the gateway's field names.
        ({"content": "x", "tags": ["a", "a"]}, ["tags[1]"]),
        ({"content": "x", "importance": 2.0}, ["importance"]),
        ({"content": "x", "request_id": "not-a-uuid"}, ["request_id"]),
    ],
)
async def test_bad_remember_requests_name_the_field(
    mesh: Mesh, agent: tuple[tuple[str, str], ...], request_json: dict[str, object], fields: list[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.gateway.stub.Remember(ParseDict(request_json, pb.RememberRequest()), metadata=agent)
    assert violated_fields(caught.value) == fields


def dialogue_batch(size: int) -> list[pb.RememberRequest]:
    return [
        pb.RememberRequest(request_id=str(uuid.uuid4()), content=f"turn {index}: ARIA asked about shard {index}")
        for index in range(size)
    ]


async def test_remember_batch_stores_every_episode_in_order(mesh: Mesh, agent: tuple[tuple[str, str], ...]) -> None:
    items = dialogue_batch(30)
    items[5] = ParseDict(DOCUMENT_004_ACTION | {"request_id": str(uuid.uuid4())}, pb.RememberRequest())
    response = await mesh.gateway.stub.RememberBatch(pb.RememberBatchRequest(episodes=items), metadata=agent)
    assert [episode.content for episode in response.episodes][:5] == [item.content for item in items[:5]]
    assert response.episodes[5].content.startswith("system_optimization_complete: ")
    assert MessageToDict(response.episodes[5].metadata)["action"]["action_type"] == "system_optimization_complete"
    listed = await mesh.gateway.stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(page_size=100), metadata=agent)
    assert {episode.episode_id for episode in listed.episodes} == {episode.episode_id for episode in response.episodes}


@pytest.mark.parametrize(
    ("bad_item", "fields"),
    [
        # Checked by the memory service in the batch's one transaction.
        ({"content": "   "}, ["episodes[17].content"]),
        ({"content": "x", "tags": ["a", "a"]}, ["episodes[17].tags[1]"]),
        # Too long an action: its content (made from the details) and its metadata (which holds them).
        (
            {"action_type": "deploy", "action_details": {"x": "y" * 262_144}},
            ["episodes[17].action_details", "episodes[17].metadata"],
        ),
        ({"content": "x", "request_id": "not-a-uuid"}, ["episodes[17].request_id"]),
        # Checked by the gateway before any call.
        ({"content": "x", "action_type": "y"}, ["episodes[17].content"]),
        ({"content": "x", "metadata": {"action": "mine"}}, ["episodes[17].metadata.action"]),
    ],
)
async def test_a_bad_item_refuses_the_whole_batch_naming_its_index(
    mesh: Mesh, agent: tuple[tuple[str, str], ...], bad_item: dict[str, object], fields: list[str]
) -> None:
    items = dialogue_batch(30)
    items[17] = ParseDict(bad_item, pb.RememberRequest())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.gateway.stub.RememberBatch(pb.RememberBatchRequest(episodes=items), metadata=agent)
    assert violated_fields(caught.value) == fields
    listed = await mesh.gateway.stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(), metadata=agent)
    assert list(listed.episodes) == []


async def test_remember_batch_is_idempotent_per_item(mesh: Mesh, agent: tuple[tuple[str, str], ...]) -> None:
    stub = mesh.gateway.stub
    items = dialogue_batch(10)
    first = await stub.RememberBatch(pb.RememberBatchRequest(episodes=items), metadata=agent)
    replayed = await stub.RememberBatch(pb.RememberBatchRequest(episodes=items), metadata=agent)
    assert [episode.episode_id for episode in replayed.episodes] == [episode.episode_id for episode in first.episodes]
    # A batch that repeats some items of an earlier one stores only the new items.
    overlapping = items[5:] + dialogue_batch(3)
    resumed = await stub.RememberBatch(pb.RememberBatchRequest(episodes=overlapping), metadata=agent)
    assert [episode.episode_id for episode in resumed.episodes[:5]] == [e.episode_id for e in first.episodes[5:]]
    listed = await stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(page_size=100), metadata=agent)
    assert len(listed.episodes) == 13
    # The same request id with another content is a different request: refused, nothing stored.
    changed = [pb.RememberRequest(request_id=items[0].request_id, content="something else")]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RememberBatch(pb.RememberBatchRequest(episodes=changed), metadata=agent)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize(("size", "fields"), [(0, ["episodes"]), (1001, ["episodes"])])
async def test_remember_batch_size_is_bounded(
    mesh: Mesh, agent: tuple[tuple[str, str], ...], size: int, fields: list[str]
) -> None:
    request = pb.RememberBatchRequest(episodes=[pb.RememberRequest(content="x")] * size)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.gateway.stub.RememberBatch(request, metadata=agent)
    assert violated_fields(caught.value) == fields


async def test_working_memory_put_get_list(mesh: Mesh, agent: tuple[tuple[str, str], ...]) -> None:
    stub = mesh.gateway.stub
    content = struct_pb2.Struct()
    content.update({"topic": "gateway", "step": 1})
    created = await stub.PutWorkingMemoryItem(
        pb.PutWorkingMemoryItemRequest(item={"context_type": "task", "content": content}), metadata=agent
    )
    assert created.created and created.item.priority == working_memory_pb2.WORKING_MEMORY_PRIORITY_NORMAL
    content.update({"step": 2})
    replaced = await stub.PutWorkingMemoryItem(
        pb.PutWorkingMemoryItemRequest(
            item={
                "item_id": created.item.item_id,
                "content": content,
                "priority": working_memory_pb2.WORKING_MEMORY_PRIORITY_HIGH,
            }
        ),
        metadata=agent,
    )
    assert not replaced.created and replaced.item.version == created.item.version + 1
    fetched = await stub.GetWorkingMemoryItem(
        pb.GetWorkingMemoryItemRequest(item_id=created.item.item_id), metadata=agent
    )
    assert MessageToDict(fetched.item.content) == {"topic": "gateway", "step": 2.0}
    assert fetched.item.priority == working_memory_pb2.WORKING_MEMORY_PRIORITY_HIGH
    listed = await stub.ListWorkingMemoryItems(pb.ListWorkingMemoryItemsRequest(context_type="task"), metadata=agent)
    assert [item.item_id for item in listed.items] == [created.item.item_id]


async def test_blocks_checkpoints_identity_and_heartbeat(mesh: Mesh, agent: tuple[tuple[str, str], ...]) -> None:
    stub = mesh.gateway.stub
    created = await stub.CreateMemoryBlock(
        pb.CreateMemoryBlockRequest(block={"label": "persona", "value": "technical implementer"}), metadata=agent
    )
    checkpoint = await stub.CreateCheckpoint(
        pb.CreateCheckpointRequest(checkpoint={"checkpoint_type": "session_end", "state_data": {"fields": {}}}),
        metadata=agent,
    )
    assert checkpoint.checkpoint.block_count == 1
    updated = await stub.UpdateMemoryBlock(
        pb.UpdateMemoryBlockRequest(
            block={"label": "persona", "value": "architect"},
            update_mask=field_mask_pb2.FieldMask(paths=["value"]),
            expected_version=created.block.version,
        ),
        metadata=agent,
    )
    assert (updated.block.value, updated.block.version) == ("architect", 2)
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await stub.UpdateMemoryBlock(
            pb.UpdateMemoryBlockRequest(
                block={"label": "persona", "value": "lost update"},
                update_mask=field_mask_pb2.FieldMask(paths=["value"]),
                expected_version=created.block.version,
            ),
            metadata=agent,
        )
    assert stale.value.code() == grpc.StatusCode.ABORTED
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetMemoryBlock(pb.GetMemoryBlockRequest(label="nothing_here"), metadata=agent)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    fetched = await stub.GetMemoryBlock(pb.GetMemoryBlockRequest(label="persona"), metadata=agent)
    assert fetched.block.value == "architect"
    blocks = await stub.ListMemoryBlocks(pb.ListMemoryBlocksRequest(), metadata=agent)
    assert [block.label for block in blocks.blocks] == ["persona"]

    restored = await stub.RestoreCheckpoint(pb.RestoreCheckpointRequest(), metadata=agent)
    assert restored.checkpoint.checkpoint_id == checkpoint.checkpoint.checkpoint_id
    assert (restored.identity_matches, list(restored.changed_labels)) == (False, ["persona"])

    state = await stub.UpdateIdentityState(
        pb.UpdateIdentityStateRequest(
            state={
                "current_focus": "the gateway",
                "emotional_vector": {"focus": 0.9, "energy": 0.7, "excitement": 0.6},
            },
            update_mask=field_mask_pb2.FieldMask(paths=["current_focus", "emotional_vector"]),
        ),
        metadata=agent,
    )
    assert state.state.current_focus == "the gateway"
    beat = await stub.Heartbeat(pb.HeartbeatRequest(), metadata=agent)
    assert beat.state.HasField("last_heartbeat_time")
    read = await stub.GetIdentityState(pb.GetIdentityStateRequest(), metadata=agent)
    assert read.state.emotional_vector.focus == pytest.approx(0.9)


async def test_knowledge_upsert_and_search(mesh: Mesh, agent: tuple[tuple[str, str], ...]) -> None:
    stub = mesh.gateway.stub
    created = await stub.UpsertKnowledge(
        pb.UpsertKnowledgeRequest(knowledge={"concept": "reciprocal rank fusion", "definition": "merges rankings"}),
        metadata=agent,
    )
    assert created.created
    knowledge_id = created.knowledge.semantic_memory_id
    updated = await stub.UpsertKnowledge(
        pb.UpsertKnowledgeRequest(
            knowledge={"semantic_memory_id": knowledge_id, "confidence": 0.95},
            update_mask=field_mask_pb2.FieldMask(paths=["confidence"]),
        ),
        metadata=agent,
    )
    assert not updated.created and updated.knowledge.confidence == pytest.approx(0.95)
    found = await stub.SearchKnowledge(
        pb.SearchKnowledgeRequest(query="rank fusion", min_confidence=0.9), metadata=agent
    )
    assert [hit.semantic_memory.semantic_memory_id for hit in found.hits] == [knowledge_id]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpsertKnowledge(pb.UpsertKnowledgeRequest(knowledge={"definition": "no concept"}), metadata=agent)
    assert violated_fields(caught.value) == ["knowledge.concept"]


async def test_stats_of_the_callers_memory(mesh: Mesh, agent: tuple[tuple[str, str], ...], namespace: str) -> None:
    stub = mesh.gateway.stub
    await stub.Remember(pb.RememberRequest(content="one"), metadata=agent)
    await stub.Remember(pb.RememberRequest(content="two"), metadata=agent)
    stats = await stub.GetStats(pb.GetStatsRequest(), metadata=agent)
    assert stats.namespace == namespace
    assert stats.memory.episodes_total == 2
    assert (stats.pending_learnings, stats.published_learnings) == (0, 0)


def test_memory_stats_are_the_memory_services_figures_of_the_callers_memory() -> None:
    """The gateway's own MemoryStats: the memory service's fields (numbers and types kept, so an older client
    still reads them) but for redis_keys, a figure of the whole cache; each copied, unset ones left unset."""

    def shape(
        message: type[memory_pb.GetStatsResponse] | type[resources_pb2.MemoryStats],
    ) -> dict[str, tuple[int, int]]:
        return {field.name: (field.number, field.type) for field in message.DESCRIPTOR.fields}

    assert shape(resources_pb2.MemoryStats) == {
        name: kind for name, kind in shape(memory_pb.GetStatsResponse).items() if name != "redis_keys"
    }
    figures = memory_pb.GetStatsResponse()
    figures.CopyFrom(filled(memory_pb.GetStatsResponse.DESCRIPTOR))
    expected = MessageToDict(figures)
    del expected["redisKeys"]
    assert MessageToDict(memory_stats(figures)) == expected
    empty = memory_stats(memory_pb.GetStatsResponse())
    assert not empty.HasField("last_checkpoint_time") and not empty.HasField("last_heartbeat_time")


async def test_recall_options_time_range_recency_context_and_min_score(
    mesh: Mesh, agent: tuple[tuple[str, str], ...]
) -> None:
    stub = mesh.gateway.stub
    start = datetime.now(UTC) - timedelta(minutes=10)
    turns = [
        "Dana asked why the replica was behind",
        "I said the WAL sender timed out under load",
        "Dana raised the sender timeout to sixty seconds",
        "The replica caught up within a minute",
        "We agreed to alert on replica lag above ten seconds",
    ]
    remembered = []
    for index, turn in enumerate(turns):
        occurred = timestamp_pb2.Timestamp()
        occurred.FromDatetime(start + timedelta(minutes=index))
        response = await stub.Remember(pb.RememberRequest(content=turn, occur_time=occurred), metadata=agent)
        remembered.append(response.episode.episode_id)

    # The question shares only some of its words with what was remembered.
    found = await stub.Recall(pb.RecallRequest(query="When did Dana fix the replica lag?"), metadata=agent)
    assert found.hits[0].episode.content == turns[4]  # replica + lag, the rarest pair
    assert {hit.episode.content for hit in found.hits} == {turns[0], turns[2], turns[3], turns[4]}

    since, until = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    since.FromDatetime(start + timedelta(minutes=1))
    until.FromDatetime(start + timedelta(minutes=4))
    in_range = await stub.Recall(
        pb.RecallRequest(query="Dana replica", filter={"start_time": since, "end_time": until}), metadata=agent
    )
    assert {hit.episode.content for hit in in_range.hits} == {turns[2], turns[3]}

    recent_first = await stub.Recall(
        pb.RecallRequest(
            query="replica",
            weighting={"recency_weight": 1.0, "recency_half_life": duration_pb2.Duration(seconds=60)},
        ),
        metadata=agent,
    )
    assert [hit.episode.content for hit in recent_first.hits] == [turns[4], turns[3], turns[0]]

    with_context = await stub.Recall(pb.RecallRequest(query='"sixty seconds"', context_window=1), metadata=agent)
    [hit] = with_context.hits
    assert [episode.episode_id for episode in hit.context] == [remembered[1], remembered[3]]

    # The embedder double is up but no worker embedded anything: hybrid finds these by their words.
    thresholded = await stub.Recall(pb.RecallRequest(query="sixty minutes", min_score=0.9), metadata=agent)
    assert {hit.episode.content for hit in thresholded.hits} == {turns[2], turns[3]}  # sixty; minute
    for bad in (
        pb.RecallRequest(query="replica", mode=episodes_pb2.SEARCH_MODE_TEXT, min_score=0.7),
        pb.RecallRequest(query="replica", context_window=99),
        pb.RecallRequest(query="-replica"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Recall(bad, metadata=agent)
        assert len(violated_fields(error.value)) == 1
