"""The mesh through the gateway: connected instances, signed proposals and votes, emotional sync, tasks."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from cerebro.consensus.client import reverify
from cerebro.consensus.v1 import consensus_pb2
from cerebro.gateway.v1 import gateway_pb2 as pb
from tests.consensus.harness import Member, register
from tests.gateway.harness import Mesh, bearer


def propose_request(member: Member, topic: str) -> pb.ProposeRequest:
    signed = member.propose(topic).proposal
    return pb.ProposeRequest(
        request_id=signed.request_id,
        topic=signed.topic,
        options=signed.options,
        deadline=signed.deadline,
        proposer_id=signed.proposer_id,
        proposer_signature=signed.proposer_signature,
    )


def vote_request(member: Member, proposal_id: str, choice: str) -> pb.VoteRequest:
    signed = member.vote(proposal_id, choice)
    return pb.VoteRequest(
        proposal_id=signed.proposal_id, voter_id=signed.voter_id, choice=signed.choice, signature=signed.signature
    )


async def test_agents_propose_and_vote_with_their_own_signatures(mesh: Mesh) -> None:
    suffix = uuid.uuid4().hex[:6]
    members = [await register(mesh.consensus, f"{name}-{suffix}") for name in ("NEXUS", "ARIA", "RICARDO")]
    tokens = {
        member.name: bearer((await mesh.issue(member.name.lower(), instance_name=member.name)).token)
        for member in members
    }
    nexus, aria, ricardo = members
    stub = mesh.gateway.stub

    # A key bound to NEXUS cannot forward another instance's proposal or vote.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Propose(propose_request(aria, "adopt the gateway"), metadata=tokens[nexus.name])
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    proposed = await stub.Propose(propose_request(nexus, "adopt the gateway"), metadata=tokens[nexus.name])
    proposal_id = proposed.proposal.proposal_id
    assert proposed.proposal.proposer_id == nexus.instance_id
    watch = stub.WatchDecisions(pb.WatchDecisionsRequest(proposal_id=proposal_id), metadata=tokens[ricardo.name])
    existing = await asyncio.wait_for(watch.read(), 10)
    assert existing.event_type == consensus_pb2.PROPOSAL_EVENT_TYPE_EXISTING

    with pytest.raises(grpc.aio.AioRpcError) as forwarded:
        await stub.Vote(vote_request(aria, proposal_id, "yes"), metadata=tokens[nexus.name])
    assert forwarded.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for member in (nexus, aria):
        vote = vote_request(member, proposal_id, "yes")
        await stub.Vote(vote, metadata=tokens[member.name])
        await stub.Vote(vote, metadata=tokens[member.name])  # the same vote again changes nothing

    # Events carry the proposal as read at delivery, so the vote and the decision may arrive as one;
    # the stream ends once the proposal is decided.
    events = []
    while (event := await asyncio.wait_for(watch.read(), 10)) != grpc.aio.EOF:
        events.append(event)
    assert events and events[-1].proposal.state == consensus_pb2.PROPOSAL_STATE_DECIDED
    decision = await stub.GetDecision(pb.GetDecisionRequest(proposal_id=proposal_id), metadata=tokens[ricardo.name])
    assert decision.proposal.decided_option == "yes"
    assert len(decision.proposal.votes) == 2
    reverify(
        decision.proposal, await mesh.consensus.enrollments()
    )  # every vote verifies offline against the voters' own keys


async def test_a_key_without_an_instance_cannot_propose(mesh: Mesh, namespace: str) -> None:
    member = await register(mesh.consensus)
    unbound = bearer((await mesh.issue(namespace)).token)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.gateway.stub.Propose(propose_request(member, "anything"), metadata=unbound)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_connected_instances_are_the_active_agents(mesh: Mesh, namespace: str) -> None:
    region = f"region-{uuid.uuid4().hex[:6]}"
    names = sorted(f"agent-{index}-{uuid.uuid4().hex[:6]}" for index in range(2))
    for name in names:
        await register(mesh.consensus, name, region=region, capabilities=["memory_management"])
    token = bearer((await mesh.issue(namespace)).token)
    listed = await mesh.gateway.stub.ListConnectedInstances(
        pb.ListConnectedInstancesRequest(region=region), metadata=token
    )
    assert [instance.instance_name for instance in listed.instances] == names
    assert listed.total_connected == 2


async def test_emotional_sync_shares_each_instances_vector(mesh: Mesh) -> None:
    suffix = uuid.uuid4().hex[:6]
    nexus = bearer((await mesh.issue(f"nexus-{suffix}")).token)
    aria = bearer((await mesh.issue(f"aria-{suffix}")).token)
    stub = mesh.gateway.stub
    await stub.UpdateSharedEmotionalState(
        pb.UpdateSharedEmotionalStateRequest(
            emotional_vector={"focus": 0.9, "energy": 0.5, "excitement": 0.2}, context={"fields": {}}
        ),
        metadata=nexus,
    )
    after = await stub.UpdateSharedEmotionalState(
        pb.UpdateSharedEmotionalStateRequest(emotional_vector={"focus": 0.5, "energy": 0.7, "excitement": 0.6}),
        metadata=aria,
    )
    members = {member.namespace: member for member in after.state.members}
    assert members[f"nexus-{suffix}"].emotional_vector.focus == pytest.approx(0.9)
    assert members[f"aria-{suffix}"].emotional_vector.excitement == pytest.approx(0.6)
    read = await stub.GetSharedEmotionalState(pb.GetSharedEmotionalStateRequest(), metadata=nexus)
    count = len(read.state.members)
    focus_sum = sum(member.emotional_vector.focus for member in read.state.members)
    assert read.state.mean.focus == pytest.approx(focus_sum / count)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateSharedEmotionalState(
            pb.UpdateSharedEmotionalStateRequest(emotional_vector={"focus": 1.5, "energy": 0.5, "excitement": 0.5}),
            metadata=aria,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_task_goes_to_the_best_matching_instance_and_says_why(mesh: Mesh, namespace: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    skill = f"code_generation_{suffix}"
    debugging = f"debugging_{suffix}"
    nexus = await register(mesh.consensus, f"nexus-{suffix}", region="eu-west", capabilities=[skill, debugging])
    await register(mesh.consensus, f"aria-{suffix}", region="eu-west", capabilities=[skill])
    far = await register(mesh.consensus, f"far-{suffix}", region="us-east", capabilities=[skill, debugging])
    token = bearer((await mesh.issue(namespace)).token)
    stub = mesh.gateway.stub

    request = pb.DistributeTaskRequest(
        request_id=str(uuid.uuid4()),
        description="fix the flaky reconnect",
        required_capabilities=[skill, debugging],
        preferred_region="eu-west",
    )
    first = (await stub.DistributeTask(request, metadata=token)).assignment
    assert first.instance.instance_id == nexus.instance_id
    assert list(first.matched_capabilities) == [skill, debugging] and not first.missing_capabilities
    assert first.in_preferred_region and first.load == 0
    assert first.reason.startswith(f"Chose nexus-{suffix}: it has 2 of 2 required capabilities")
    assert "in the preferred region eu-west" in first.reason
    # A retry with the same request id gets the same assignment and adds no load.
    again = (await stub.DistributeTask(request, metadata=token)).assignment
    assert again.task_id == first.task_id

    # Only the two full matches compete; the one in the preferred region wins while it exists.
    second = (
        await stub.DistributeTask(
            pb.DistributeTaskRequest(
                description="another", required_capabilities=[skill, debugging], preferred_region="us-east"
            ),
            metadata=token,
        )
    ).assignment
    assert second.instance.instance_id == far.instance_id
    # Equally suited instances share the work by load (NEXUS has one task already), ties go by name.
    spread = pb.DistributeTaskRequest(description="spread", required_capabilities=[skill], preferred_region="eu-west")
    chosen = [(await stub.DistributeTask(spread, metadata=token)).assignment for _ in range(3)]
    assert [a.instance.instance_name for a in chosen] == [f"aria-{suffix}", f"aria-{suffix}", f"nexus-{suffix}"]
    assert [a.load for a in chosen] == [0, 1, 1]
    assert chosen[0].reason == (
        f"Chose aria-{suffix}: it has 1 of 1 required capabilities ({skill}); it is in the preferred region eu-west; "
        "it has the lowest load of the 2 equally suited instances (0 tasks assigned in the last 300 s)."
    )
    assert chosen[1].reason.endswith(
        "it shares the lowest load (1 task assigned in the last 300 s) with 1 other instance(s)"
        " and comes first by name."
    )
    assert chosen[0].candidate_count >= 3

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DistributeTask(
            pb.DistributeTaskRequest(description="impossible", required_capabilities=[f"nothing_{suffix}"]),
            metadata=token,
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await stub.DistributeTask(
            pb.DistributeTaskRequest(request_id=request.request_id, description="a different task"), metadata=token
        )
    assert reused.value.code() == grpc.StatusCode.ALREADY_EXISTS
