"""Every method of the client round-trips through a real gateway, memory and consensus service."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from cerebro.client import (
    AsyncCerebroClient,
    CerebroClient,
    ClientSettings,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from cerebro.consensus.client import reverify
from cerebro.consensus.v1 import consensus_pb2
from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import resources_pb2
from cerebro.memory.v1 import episodes_pb2, identity_pb2, namespaces_pb2, semantic_pb2, working_memory_pb2
from tests.client.conftest import Agent, new_agent
from tests.gateway.harness import Mesh
from tests.support import eventually, free_port


async def test_episodes_remember_recall_and_list(client: AsyncCerebroClient) -> None:
    plain = (await client.remember("NEXUS tuned the reconnect backoff", tags=["ops"], importance=0.8)).episode
    action = (
        await client.remember(
            action_type="system_optimization_complete",
            action_details={"component": "gateway"},
            context_state={"load": 0.3},
            tags=["ops"],
        )
    ).episode
    assert plain.content == "NEXUS tuned the reconnect backoff" and plain.importance == pytest.approx(0.8)
    assert action.metadata["action"]["action_type"] == "system_optimization_complete"

    recalled = await client.recall("reconnect backoff", top_k=5)
    assert recalled.hits[0].episode.episode_id == plain.episode_id
    recent = await client.recent_episodes(page_size=10)
    assert [episode.episode_id for episode in recent.episodes] == [action.episode_id, plain.episode_id]


async def test_remember_with_the_same_request_id_stores_once(client: AsyncCerebroClient) -> None:
    request_id = str(uuid.uuid4())
    first = await client.remember("only once", request_id=request_id)
    second = await client.remember("only once", request_id=request_id)
    assert first.episode.episode_id == second.episode.episode_id
    assert len((await client.recent_episodes()).episodes) == 1


async def test_remember_batch_takes_messages_and_json_and_retries_store_once(client: AsyncCerebroClient) -> None:
    items: list[pb.RememberRequest | dict[str, object]] = [
        pb.RememberRequest(content="first turn", tags=["chat"]),
        {"content": "second turn", "importance": 0.9, "request_id": str(uuid.uuid4())},
        {"actionType": "deploy", "actionDetails": {"region": "eu"}},
    ]
    stored = (await client.remember_batch(items)).episodes
    assert [episode.content for episode in stored[:2]] == ["first turn", "second turn"]
    assert stored[2].metadata["action"]["action_type"] == "deploy"
    again = (await client.remember_batch(items[1:2])).episodes
    assert again[0].episode_id == stored[1].episode_id
    assert len((await client.recent_episodes()).episodes) == 3
    with pytest.raises(ValueError, match=r"episodes\[1\]"):
        await client.remember_batch([{"content": "fine"}, {"contnet": "typo"}])


async def test_working_memory_put_get_list_and_replace(client: AsyncCerebroClient) -> None:
    created = await client.put_working_memory(
        {"step": 1}, context_type="task", priority=working_memory_pb2.WORKING_MEMORY_PRIORITY_HIGH
    )
    assert created.created
    item_id = created.item.item_id
    replaced = await client.put_working_memory({"step": 2}, item_id=item_id, ttl=timedelta(hours=1))
    assert not replaced.created and replaced.item.content["step"] == 2
    assert (await client.get_working_memory(item_id)).item.content["step"] == 2
    assert [item.item_id for item in (await client.list_working_memory(context_type="task")).items] == [item_id]


async def test_blocks_create_list_get_update(client: AsyncCerebroClient) -> None:
    await client.create_block("persona", "I am NEXUS.", description="who I am")
    await client.create_block("goals", "ship the gateway")
    updated = (await client.update_block("goals", value="ship the client", expected_version=1)).block
    assert updated.value == "ship the client" and updated.version == 2
    assert (await client.get_block("goals")).block.description == ""
    assert [block.label for block in (await client.list_blocks()).blocks] == ["goals", "persona"]
    with pytest.raises(NotFound):
        await client.get_block("missing")


async def test_checkpoint_identity_and_heartbeat(client: AsyncCerebroClient) -> None:
    await client.create_block("persona", "I am NEXUS.")
    checkpoint = (await client.create_checkpoint("session_end", {"open_tasks": 2})).checkpoint
    restored = await client.restore_checkpoint()
    assert restored.checkpoint.checkpoint_id == checkpoint.checkpoint_id and restored.identity_matches
    assert (await client.restore_checkpoint(checkpoint.checkpoint_id)).continuity_score == pytest.approx(1.0)

    state = identity_pb2.ConsciousnessState(current_focus="writing tests")
    assert (await client.update_identity_state(state, ["current_focus"])).state.current_focus == "writing tests"
    assert (await client.get_identity_state()).state.current_focus == "writing tests"
    assert (await client.heartbeat()).state.HasField("last_heartbeat_time")


async def test_knowledge_upsert_and_search(client: AsyncCerebroClient) -> None:
    stored = await client.upsert_knowledge(
        semantic_pb2.SemanticMemory(concept="quorum", definition="ceil(2n/3) signed votes", confidence=0.9)
    )
    assert stored.created
    knowledge_id = stored.knowledge.semantic_memory_id
    changed = await client.upsert_knowledge(
        semantic_pb2.SemanticMemory(semantic_memory_id=knowledge_id, confidence=0.95), fields=["confidence"]
    )
    assert not changed.created and changed.knowledge.confidence == pytest.approx(0.95)
    found = await client.search_knowledge("quorum votes", min_confidence=0.5)
    assert found.hits[0].semantic_memory.semantic_memory_id == knowledge_id


async def test_episodes_correct_delete_and_forget(client: AsyncCerebroClient) -> None:
    draft = (await client.remember("the backoff is linear", tags=["ops"])).episode
    action = (await client.remember(action_type="deploy", action_details={"version": "1"})).episode
    corrected = (
        await client.update_episode(draft.episode_id, content="the backoff is exponential", tags=["ops", "fixed"])
    ).episode
    assert (corrected.content, list(corrected.tags)) == ("the backoff is exponential", ["ops", "fixed"])
    assert corrected.importance == pytest.approx(draft.importance)  # not in the mask: unchanged
    kept = (await client.update_episode(action.episode_id, metadata={"reviewed": True}, importance=0.0)).episode
    assert kept.metadata["reviewed"] is True and kept.metadata["action"]["action_type"] == "deploy"
    assert kept.importance == 0.0
    with pytest.raises(InvalidArgument) as bad:
        await client.update_episode(draft.episode_id)
    assert [violation.field for violation in bad.value.field_violations] == ["update_mask"]

    dry = await client.forget_episodes(episodes_pb2.EpisodeFilter(tags=["fixed"]))
    assert (dry.forget_count, list(dry.forget_sample)) == (1, [draft.episode_id])
    assert len((await client.recent_episodes()).episodes) == 2
    assert (await client.forget_episodes(episodes_pb2.EpisodeFilter(tags=["fixed"]), force=True)).forget_count == 1
    await client.delete_episode(action.episode_id)
    assert not (await client.recent_episodes()).episodes
    with pytest.raises(NotFound):
        await client.delete_episode(action.episode_id)


async def test_projects_create_get_list_archive(client: AsyncCerebroClient) -> None:
    project = (await client.create_project("the client", dna="client_001", metadata={"owner": "nexus"})).project
    assert (await client.get_project(project.project_id)).project.dna == "client_001"
    await client.remember("in the project", project_id=project.project_id)
    archived = (await client.archive_project(project.project_id)).project
    assert archived.status == namespaces_pb2.PROJECT_STATUS_ARCHIVED
    listed = await client.list_projects(status=namespaces_pb2.PROJECT_STATUS_ARCHIVED)
    assert [p.project_id for p in listed.projects] == [project.project_id]
    assert not (await client.list_projects(status=namespaces_pb2.PROJECT_STATUS_ACTIVE)).projects


async def test_working_memory_delete_checkpoints_and_block_revisions(client: AsyncCerebroClient) -> None:
    item = (await client.put_working_memory({"step": 1}, context_type="task")).item
    await client.delete_working_memory(item.item_id)
    with pytest.raises(NotFound):
        await client.get_working_memory(item.item_id)

    await client.create_block("goals", "v1")
    await client.update_block("goals", value="v2")
    assert [r.value for r in (await client.list_block_revisions("goals")).revisions] == ["v2", "v1"]
    first = (await client.create_checkpoint("session", {"step": 1})).checkpoint
    second = (await client.create_checkpoint("milestone", {"step": 2})).checkpoint
    listed = await client.list_checkpoints()
    assert [c.checkpoint_id for c in listed.checkpoints] == [second.checkpoint_id, first.checkpoint_id]
    assert [c.checkpoint_id for c in (await client.list_checkpoints(checkpoint_type="session")).checkpoints] == [
        first.checkpoint_id
    ]
    assert (await client.get_checkpoint(first.checkpoint_id)).checkpoint.state_data["step"] == 1


async def test_knowledge_get_lookup_list_delete(client: AsyncCerebroClient) -> None:
    stored = (await client.upsert_knowledge(semantic_pb2.SemanticMemory(concept="Quorum", definition="2/3"))).knowledge
    knowledge_id = stored.semantic_memory_id
    assert (await client.get_knowledge(knowledge_id)).knowledge.concept == "Quorum"
    assert (await client.lookup_knowledge("quorum")).knowledge.semantic_memory_id == knowledge_id
    assert [k.semantic_memory_id for k in (await client.list_knowledge(concept="QUORUM")).knowledge] == [knowledge_id]
    await client.delete_knowledge(knowledge_id)
    with pytest.raises(NotFound):
        await client.lookup_knowledge("quorum")
    assert not (await client.list_knowledge()).knowledge


async def test_propose_vote_watch_and_decide_with_the_agents_own_signatures(mesh: Mesh, agent: Agent) -> None:
    aria = await new_agent(mesh, "aria")
    async with (
        AsyncCerebroClient(agent.settings(mesh), signer=agent.signer) as nexus_client,
        AsyncCerebroClient(aria.settings(mesh), signer=aria.signer) as aria_client,
    ):
        connected = await nexus_client.connected_instances()
        assert {agent.name, aria.name} <= {instance.instance_name for instance in connected.instances}

        proposal = (await nexus_client.propose("adopt the client", options=["yes", "no"])).proposal
        assert proposal.proposer_id == agent.signer.instance_id
        watch = aria_client.watch_decisions(proposal.proposal_id)
        first = await asyncio.wait_for(anext(watch), 10)
        assert first.event_type == consensus_pb2.PROPOSAL_EVENT_TYPE_EXISTING
        for voter in (nexus_client, aria_client):
            await voter.vote(proposal.proposal_id, "yes")
        decision = (await nexus_client.get_decision(proposal.proposal_id)).proposal
        await watch.aclose()  # type: ignore[attr-defined]
    # Other tests' instances may be in the electorate: the two votes count, signed by their own keys.
    assert {vote.voter_id for vote in decision.votes} == {agent.signer.instance_id, aria.signer.instance_id}
    if decision.state == consensus_pb2.PROPOSAL_STATE_DECIDED:
        reverify(decision, await mesh.consensus.enrollments())


async def test_learnings_publish_subscribe_acknowledge(mesh: Mesh, agent: Agent) -> None:
    aria = await new_agent(mesh, "aria")
    async with (
        AsyncCerebroClient(agent.settings(mesh)) as nexus_client,
        AsyncCerebroClient(aria.settings(mesh)) as aria_client,
    ):
        subscription = aria_client.subscribe_learnings()
        # The first read subscribes ARIA's namespace; publish once the stream is open.
        reading = asyncio.ensure_future(anext(subscription))
        await asyncio.sleep(1.0)
        published = await nexus_client.publish_learning("backoff", definition="retry with jitter", confidence=0.7)
        assert published.learning.publisher == agent.namespace
        received = await asyncio.wait_for(reading, 15)
        await subscription.aclose()  # type: ignore[attr-defined]
        assert received.learning.learning_id == published.learning.learning_id
        acknowledged = await aria_client.acknowledge_learnings([received.learning.learning_id])
        assert acknowledged.acknowledged_count == 1


async def test_emotions_tasks_stats_and_health(client: AsyncCerebroClient, agent: Agent) -> None:
    shared = await client.update_emotional_state(focus=0.9, energy=0.5, excitement=0.2, context={"why": "tests"})
    assert agent.namespace in {member.namespace for member in shared.state.members}
    assert (await client.get_emotional_state()).state.HasField("mean")
    watch = client.watch_emotional_state()
    first = await asyncio.wait_for(anext(watch), 10)
    assert {m.namespace: m.emotional_vector.focus for m in first.state.members}[agent.namespace] == pytest.approx(0.9)
    await client.update_emotional_state(focus=0.1, energy=0.5, excitement=0.2)
    changed = await asyncio.wait_for(anext(watch), 10)
    await watch.aclose()  # type: ignore[attr-defined]
    assert {m.namespace: m.emotional_vector.focus for m in changed.state.members}[agent.namespace] == pytest.approx(0.1)

    assignment = (await client.distribute_task("write the client", required_capabilities=[])).assignment
    assert assignment.instance.instance_id and assignment.reason

    await client.remember("counted")
    stats = await client.stats()
    assert stats.namespace == agent.namespace and stats.memory.episodes_total == 1
    health = await client.health()
    assert health.status in (resources_pb2.HEALTH_STATUS_SERVING, resources_pb2.HEALTH_STATUS_DEGRADED)


async def test_the_blocking_client_does_the_same_from_a_thread(mesh: Mesh, agent: Agent) -> None:
    def use_blocking_client() -> tuple[str, list[str], int]:
        with CerebroClient(agent.settings(mesh), signer=agent.signer) as cerebro:
            stored = cerebro.remember("blocking clients are simple").episode
            hits = [hit.episode.episode_id for hit in cerebro.recall("blocking clients").hits]
            draft = cerebro.remember("a draft to forget", tags=["draft"]).episode
            assert cerebro.update_episode(draft.episode_id, tags=["draft", "old"]).episode.tags == ["draft", "old"]
            assert cerebro.forget_episodes(episodes_pb2.EpisodeFilter(tags=["old"]), force=True).forget_count == 1
            project = cerebro.create_project("blocking").project
            assert cerebro.archive_project(project.project_id).project.status == namespaces_pb2.PROJECT_STATUS_ARCHIVED
            proposal = cerebro.propose("keep the blocking client").proposal
            watch = cerebro.watch_decisions(proposal.proposal_id)
            first = next(watch)
            watch.close()  # leaving a stream early cancels it on the client's loop
            assert not cerebro.list_tasks(distributed=True).tasks  # this agent distributed none
            return stored.episode_id, hits, first.event_type

    # The mesh serves on this thread's event loop, so the blocking client must run in another thread.
    episode_id, hits, event_type = await asyncio.to_thread(use_blocking_client)
    assert hits == [episode_id]
    assert event_type == consensus_pb2.PROPOSAL_EVENT_TYPE_EXISTING


async def next_of(inbox: AsyncIterator[pb.WatchTasksResponse], ours: set[str]) -> pb.WatchTasksResponse:
    """The next delivery of one of our tasks: a task of another test that required no capability may come
    to any agent, this one too."""
    while (delivery := await asyncio.wait_for(anext(inbox), 30)).task.task_id not in ours:
        pass
    return delivery


async def test_the_task_inbox_from_distribution_to_result(mesh: Mesh, client: AsyncCerebroClient, agent: Agent) -> None:
    skill = f"summarise-{uuid.uuid4().hex[:6]}"
    worker = await new_agent(mesh, "worker", capabilities=[skill])
    async with AsyncCerebroClient(worker.settings(mesh)) as worker_client:
        inbox = worker_client.watch_tasks()
        assignment = (await client.distribute_task("summarise the week", required_capabilities=[skill])).assignment
        delivered = await next_of(inbox, {assignment.task_id})
        await inbox.aclose()  # type: ignore[attr-defined]
        task_id = delivered.task.task_id
        assert assignment.instance.instance_name == worker.name

        with pytest.raises(FailedPrecondition):
            await worker_client.complete_task(task_id, result={"summary": "too early"})
        await worker_client.acknowledge_task(task_id)
        progressed = (await worker_client.report_task_progress(task_id, progress=0.5, status_message="reading")).task
        assert progressed.progress == pytest.approx(0.5)
        done = (await worker_client.complete_task(task_id, result={"summary": "quiet week"})).task
        assert done.state == resources_pb2.TASK_STATE_SUCCEEDED

    seen = [message.task async for message in client.watch_task(task_id)]  # ends with the task
    assert seen[-1].result["summary"] == "quiet week"
    assert (await client.get_task(task_id)).task.state == resources_pb2.TASK_STATE_SUCCEEDED
    listed = await client.list_tasks(distributed=True, states=[resources_pb2.TASK_STATE_SUCCEEDED])
    assert [task.task_id for task in listed.tasks] == [task_id]


async def test_watch_tasks_reconnects_from_its_cursor_when_the_gateway_restarts(
    mesh: Mesh, client: AsyncCerebroClient
) -> None:
    skill = f"restart-{uuid.uuid4().hex[:6]}"
    worker = await new_agent(mesh, "worker", capabilities=[skill])
    port = free_port()
    replica_env = {"CEREBRO_GATEWAY_PORT": str(port), "CEREBRO_GATEWAY_TASK_POLL_SECONDS": "0.2"}
    settings = ClientSettings(target=f"127.0.0.1:{port}", api_key=worker.api_key)
    received: list[str] = []

    async def collect(inbox: AsyncIterator[pb.WatchTasksResponse], wanted: str) -> None:
        while (delivery := await anext(inbox)).task.task_id != wanted:
            received.append(delivery.task.task_id)
        received.append(wanted)

    async with AsyncCerebroClient(settings) as worker_client:
        inbox = worker_client.watch_tasks()
        async with mesh.another_gateway(f"restarting-{port}", replica_env):
            first = (await client.distribute_task("first", required_capabilities=[skill])).assignment.task_id
            await asyncio.wait_for(collect(inbox, first), 30)
            # Read on while the replica goes away: the stream breaks, and the iterator reconnects.
            second_received = asyncio.ensure_future(collect(inbox, "none yet"))
        second = (await client.distribute_task("second", required_capabilities=[skill])).assignment.task_id
        async with mesh.another_gateway(f"restarted-{port}", replica_env):
            # The same iteration resumes after the first task's cursor: the second comes, the first not again.
            await eventually(lambda: second in received, timeout=30)
            second_received.cancel()
        await inbox.aclose()  # type: ignore[attr-defined]
    assert received.count(first) == 1 and received.count(second) == 1
    # A new iteration starts from the beginning: the first task was never acknowledged.
    async with AsyncCerebroClient(worker.settings(mesh)) as worker_client:
        fresh = worker_client.watch_tasks()
        assert (await next_of(fresh, {first, second})).task.task_id == first
        await fresh.aclose()  # type: ignore[attr-defined]
