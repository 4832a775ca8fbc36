"""Proposals and votes over gRPC against real PostgreSQL: the voting rules and their error codes."""

from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.consensus.client import VerificationError, deregister_request, reverify, vote_request
from cerebro.consensus.rules import Outcome, ProposalState
from cerebro.consensus.v1 import consensus_pb2 as pb
from tests.consensus.harness import (
    ConsensusServer,
    consensus_server,
    field_violations,
    next_message,
    register,
    register_electorate,
)
from tests.support import eventually


async def full_proposal(server: ConsensusServer, proposal_id: str) -> pb.Proposal:
    return (await server.stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal_id))).proposal


def tally(proposal: pb.Proposal) -> dict[str, int]:
    return {entry.option: entry.votes for entry in proposal.tally}


async def rpc_error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_a_proposal_freezes_the_active_voting_instances(consensus: ConsensusServer) -> None:
    stub = consensus.stub
    voters = await register_electorate(consensus, 3)
    observer = await register(consensus, "observer", voting=False)
    departed = await register(consensus, "departed")
    await stub.DeregisterInstance(deregister_request(departed.key, departed.instance_id))

    created = (await stub.CreateProposal(observer.propose())).proposal
    assert created.state == pb.PROPOSAL_STATE_OPEN
    assert sorted(elector.instance_id for elector in created.electorate) == sorted(v.instance_id for v in voters)
    assert created.electorate_size == 3 and created.quorum == 2
    assert list(created.options) == ["yes", "no"] and tally(created) == {"yes": 0, "no": 0}

    latecomer = await register(consensus, "latecomer")
    for outsider in (observer, departed, latecomer):
        error = await rpc_error(stub.Vote(outsider.vote(created.proposal_id, "yes")))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert tally(await full_proposal(consensus, created.proposal_id)) == {"yes": 0, "no": 0}


async def test_standby_instances_are_not_in_a_new_electorate(fresh_database_url: str, tmp_path: Path) -> None:
    short = {"CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": "0.5", "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": "30"}
    async with consensus_server(fresh_database_url, tmp_path, short) as server:
        silent = await register(server, "silent")

        async def silent_is_standby() -> bool:
            response = await server.stub.GetInstance(pb.GetInstanceRequest(instance_id=silent.instance_id))
            return response.instance.status == pb.INSTANCE_STATUS_STANDBY

        await eventually(silent_is_standby)
        fresh = await register(server, "fresh")
        created = (await server.stub.CreateProposal(fresh.propose())).proposal
        assert [elector.instance_id for elector in created.electorate] == [fresh.instance_id]


async def test_votes_decide_at_quorum_with_idempotent_repeats_and_kept_equivocation(
    consensus: ConsensusServer,
) -> None:
    stub = consensus.stub
    first, second, third, fourth = await register_electorate(consensus, 4)  # quorum 3
    proposal_id = (await stub.CreateProposal(first.propose())).proposal.proposal_id

    voted = (await stub.Vote(first.vote(proposal_id, "yes"))).proposal
    assert voted.state == pb.PROPOSAL_STATE_OPEN and tally(voted) == {"yes": 1, "no": 0}
    again = (await stub.Vote(first.vote(proposal_id, "yes"))).proposal
    assert tally(again) == {"yes": 1, "no": 0}

    equivocation = await rpc_error(stub.Vote(first.vote(proposal_id, "no")))
    assert equivocation.code() == grpc.StatusCode.ALREADY_EXISTS
    forged = vote_request(first.key, proposal_id, second.instance_id, "no")
    assert (await rpc_error(stub.Vote(forged))).code() == grpc.StatusCode.UNAUTHENTICATED
    unknown_choice = await rpc_error(stub.Vote(second.vote(proposal_id, "maybe")))
    assert unknown_choice.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [field for field, _ in field_violations(unknown_choice)] == ["choice"]

    recorded = await full_proposal(consensus, proposal_id)
    assert tally(recorded) == {"yes": 1, "no": 0}
    [evidence] = recorded.equivocations
    assert evidence.voter_id == first.instance_id
    assert (evidence.counted_vote.choice, evidence.conflicting_vote.choice) == ("yes", "no")

    assert (await stub.Vote(second.vote(proposal_id, "yes"))).proposal.state == pb.PROPOSAL_STATE_OPEN
    decided = (await stub.Vote(third.vote(proposal_id, "yes"))).proposal
    assert decided.state == pb.PROPOSAL_STATE_DECIDED and decided.decided_option == "yes"
    assert decided.HasField("resolve_time")

    late = await rpc_error(stub.Vote(fourth.vote(proposal_id, "no")))
    assert late.code() == grpc.StatusCode.FAILED_PRECONDITION
    # The deciding voter's retry (its response lost, say) still succeeds.
    assert (await stub.Vote(third.vote(proposal_id, "yes"))).proposal.state == pb.PROPOSAL_STATE_DECIDED

    final = await full_proposal(consensus, proposal_id)
    assert reverify(final, await consensus.enrollments()) == Outcome(ProposalState.DECIDED, "yes")
    assert len(final.votes) == 3 and tally(final) == {"yes": 3, "no": 0}


async def test_offline_reverification_detects_tampering(consensus: ConsensusServer) -> None:
    stub = consensus.stub
    members = await register_electorate(consensus, 3)
    proposal_id = (await stub.CreateProposal(members[0].propose())).proposal.proposal_id
    for member in members[:2]:
        await stub.Vote(member.vote(proposal_id, "no"))
    genuine = await full_proposal(consensus, proposal_id)
    assert reverify(genuine, await consensus.enrollments()) == Outcome(ProposalState.DECIDED, "no")

    flipped = pb.Proposal()
    flipped.CopyFrom(genuine)
    flipped.votes[0].choice = "yes"
    flipped.decided_option = "yes"
    with pytest.raises(VerificationError, match="not validly signed"):
        reverify(flipped, await consensus.enrollments())
    stuffed = pb.Proposal()
    stuffed.CopyFrom(genuine)
    del stuffed.electorate[2]
    stuffed.electorate_size = 2
    stuffed.topic = "something else"
    with pytest.raises(VerificationError, match="proposer's signature"):
        reverify(stuffed, await consensus.enrollments())


async def test_rejected_as_soon_as_no_option_can_reach_the_quorum(consensus: ConsensusServer) -> None:
    stub = consensus.stub
    members = await register_electorate(consensus, 3)  # quorum 2
    created = (await stub.CreateProposal(members[0].propose(options=["a", "b", "c"]))).proposal
    assert (await stub.Vote(members[0].vote(created.proposal_id, "a"))).proposal.state == pb.PROPOSAL_STATE_OPEN
    assert (await stub.Vote(members[1].vote(created.proposal_id, "b"))).proposal.state == pb.PROPOSAL_STATE_OPEN
    rejected = (await stub.Vote(members[2].vote(created.proposal_id, "c"))).proposal
    assert rejected.state == pb.PROPOSAL_STATE_REJECTED and rejected.decided_option == ""
    assert reverify(await full_proposal(consensus, created.proposal_id), await consensus.enrollments()) == Outcome(
        ProposalState.REJECTED
    )


async def test_a_proposal_expires_at_its_deadline_and_its_watch_ends(consensus: ConsensusServer) -> None:
    stub = consensus.stub
    voter, other = await register_electorate(consensus, 2)
    created = (await stub.CreateProposal(voter.propose(seconds=1.0))).proposal
    watch = stub.WatchProposals(pb.WatchProposalsRequest(proposal_id=created.proposal_id), timeout=30)
    existing = await next_message(watch)
    assert existing.event_type == pb.PROPOSAL_EVENT_TYPE_EXISTING
    assert existing.proposal.state == pb.PROPOSAL_STATE_OPEN
    await stub.Vote(voter.vote(created.proposal_id, "yes"))
    voted = await next_message(watch)
    if voted.event_type == pb.PROPOSAL_EVENT_TYPE_CREATED:
        # The creation, committed before the watch subscribed, may still be heard after EXISTING.
        voted = await next_message(watch)
    assert voted.event_type == pb.PROPOSAL_EVENT_TYPE_VOTED and tally(voted.proposal)["yes"] == 1

    expired = await next_message(watch)
    assert expired.event_type == pb.PROPOSAL_EVENT_TYPE_EXPIRED
    assert expired.proposal.state == pb.PROPOSAL_STATE_EXPIRED
    assert await next_message(watch) is grpc.aio.EOF

    late = await rpc_error(stub.Vote(other.vote(created.proposal_id, "yes")))
    assert late.code() == grpc.StatusCode.FAILED_PRECONDITION
    final = await full_proposal(consensus, created.proposal_id)
    assert final.state == pb.PROPOSAL_STATE_EXPIRED
    assert final.resolve_time.ToDatetime(tzinfo=UTC) == final.deadline.ToDatetime(tzinfo=UTC)
    assert reverify(final, await consensus.enrollments()) == Outcome(ProposalState.EXPIRED)


async def test_watch_all_proposals_streams_open_ones_then_every_change(consensus: ConsensusServer) -> None:
    stub = consensus.stub
    first, second = await register_electorate(consensus, 2)  # quorum 2
    open_before = (await stub.CreateProposal(first.propose("already open"))).proposal
    watch = stub.WatchProposals(pb.WatchProposalsRequest(view=pb.PROPOSAL_VIEW_FULL), timeout=30)
    existing = await next_message(watch)
    assert existing.event_type == pb.PROPOSAL_EVENT_TYPE_EXISTING
    assert existing.proposal.proposal_id == open_before.proposal_id and len(existing.proposal.electorate) == 2

    created = (await stub.CreateProposal(second.propose("new one"))).proposal
    await stub.Vote(first.vote(created.proposal_id, "no"))
    await rpc_error(stub.Vote(first.vote(created.proposal_id, "yes")))
    await stub.Vote(second.vote(created.proposal_id, "no"))
    events: list[pb.WatchProposalsResponse] = []
    while len(events) < 4:
        event = await next_message(watch)
        # The creation of open_before, committed before the watch subscribed, may still be heard.
        if event.proposal.proposal_id != open_before.proposal_id:
            events.append(event)
    assert [event.event_type for event in events] == [
        pb.PROPOSAL_EVENT_TYPE_CREATED,
        pb.PROPOSAL_EVENT_TYPE_VOTED,
        pb.PROPOSAL_EVENT_TYPE_EQUIVOCATION,
        pb.PROPOSAL_EVENT_TYPE_VOTED,
    ]
    assert all(event.proposal.proposal_id == created.proposal_id for event in events)
    assert events[-1].proposal.state == pb.PROPOSAL_STATE_DECIDED and len(events[-1].proposal.votes) == 2
    watch.cancel()


async def test_create_proposal_is_idempotent_per_request_id_and_signed(consensus: ConsensusServer) -> None:
    stub = consensus.stub
    proposer = await register(consensus, "proposer")
    request = proposer.propose("one decision")
    first = (await stub.CreateProposal(request)).proposal
    retried = (await stub.CreateProposal(request)).proposal
    assert retried.proposal_id == first.proposal_id
    listed = await stub.ListProposals(pb.ListProposalsRequest())
    assert [proposal.proposal_id for proposal in listed.proposals] == [first.proposal_id]

    reused = proposer.propose("another decision")
    reused.proposal.request_id = request.proposal.request_id
    assert (await rpc_error(stub.CreateProposal(reused))).code() == grpc.StatusCode.ALREADY_EXISTS
    forged = proposer.propose()
    forged.proposal.proposer_signature = Ed25519PrivateKey.generate().sign(b"not this proposal")
    assert (await rpc_error(stub.CreateProposal(forged))).code() == grpc.StatusCode.UNAUTHENTICATED
    stranger = proposer.propose()
    stranger.proposal.proposer_id = "00000000-0000-4000-8000-000000000000"
    assert (await rpc_error(stub.CreateProposal(stranger))).code() == grpc.StatusCode.NOT_FOUND
    listed = await stub.ListProposals(pb.ListProposalsRequest())
    assert len(listed.proposals) == 1


async def test_no_active_voter_means_no_proposal(consensus: ConsensusServer) -> None:
    observer = await register(consensus, "observer", voting=False)
    error = await rpc_error(consensus.stub.CreateProposal(observer.propose()))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert len((await consensus.stub.ListProposals(pb.ListProposalsRequest())).proposals) == 0


async def test_list_proposals_filters_and_pages_newest_first(consensus: ConsensusServer) -> None:
    stub = consensus.stub
    alpha, beta = await register_electorate(consensus, 2)
    ids = []
    for index in range(5):
        proposer = alpha if index % 2 == 0 else beta
        ids.append((await stub.CreateProposal(proposer.propose(f"topic {index}"))).proposal.proposal_id)
        await asyncio.sleep(0.01)
    for member in (alpha, beta):
        await stub.Vote(member.vote(ids[0], "yes"))

    collected, token = [], ""
    while True:
        page = await stub.ListProposals(pb.ListProposalsRequest(page_size=2, page_token=token))
        assert all(not proposal.votes for proposal in page.proposals)  # basic view by default
        collected += [proposal.proposal_id for proposal in page.proposals]
        token = page.next_page_token
        if not token:
            break
    assert collected == list(reversed(ids))

    by_beta = await stub.ListProposals(pb.ListProposalsRequest(proposer_id=beta.instance_id))
    assert [proposal.proposal_id for proposal in by_beta.proposals] == [ids[3], ids[1]]
    decided = await stub.ListProposals(
        pb.ListProposalsRequest(state=pb.PROPOSAL_STATE_DECIDED, view=pb.PROPOSAL_VIEW_FULL)
    )
    assert [proposal.proposal_id for proposal in decided.proposals] == [ids[0]]
    assert len(decided.proposals[0].votes) == 2
    opened = await stub.ListProposals(pb.ListProposalsRequest(state=pb.PROPOSAL_STATE_OPEN))
    assert len(opened.proposals) == 4
