"""Two consensus replicas over one PostgreSQL: concurrent votes decide each proposal exactly once."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest

from cerebro.consensus.client import reverify
from cerebro.consensus.rules import Outcome, ProposalState
from cerebro.consensus.v1 import consensus_pb2 as pb
from tests.consensus.harness import ConsensusServer, consensus_server, next_message, register_electorate

ELECTORATE = 7  # quorum 5
PROPOSALS = 20


@pytest.fixture
async def replicas(fresh_database_url: str, tmp_path: Path) -> AsyncIterator[tuple[ConsensusServer, ConsensusServer]]:
    async with contextlib.AsyncExitStack() as stack:
        # Both start at once on an empty database: the migrations must still be applied exactly once.
        first, second = await asyncio.gather(
            stack.enter_async_context(consensus_server(fresh_database_url, tmp_path / "a")),
            stack.enter_async_context(consensus_server(fresh_database_url, tmp_path / "b")),
        )
        yield first, second


async def outcome_code(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def collect(
    watch: grpc.aio.UnaryStreamCall, into: list[pb.WatchProposalsResponse], expected: int, marker: str
) -> None:
    """``expected`` events about proposals other than the ``marker`` request's (whose creation, committed
    before the watch subscribed, may still be heard after its EXISTING event)."""
    while len(into) < expected:
        event = await next_message(watch, timeout=30)
        if event.proposal.request_id != marker:
            into.append(event)


async def watch_everywhere(
    servers: tuple[ConsensusServer, ConsensusServer], marker: pb.CreateProposalRequest
) -> list[grpc.aio.UnaryStreamCall]:
    """A watch of all proposals on each replica, surely subscribed: each has reported the open ``marker``."""
    await servers[0].stub.CreateProposal(marker)
    watches = [server.stub.WatchProposals(pb.WatchProposalsRequest(), timeout=120) for server in servers]
    for watch in watches:
        existing = await next_message(watch)
        assert existing.event_type == pb.PROPOSAL_EVENT_TYPE_EXISTING
        assert existing.proposal.request_id == marker.proposal.request_id
    return watches


async def test_concurrent_votes_at_two_replicas_decide_each_proposal_exactly_once(
    replicas: tuple[ConsensusServer, ConsensusServer], fresh_database_url: str
) -> None:
    first, second = replicas
    voters = await register_electorate(first, ELECTORATE)
    marker = voters[0].propose("marker")
    watches = await watch_everywhere(replicas, marker)
    proposal_ids = []
    for index in range(PROPOSALS):
        request = voters[index % ELECTORATE].propose(f"decision {index}")
        proposal_ids.append((await replicas[index % 2].stub.CreateProposal(request)).proposal.proposal_id)
    # Every voter sends the same signed vote to both replicas at once, for every proposal at once.
    calls = [
        (proposal_id, voter.instance_id, server.stub.Vote(voter.vote(proposal_id, "yes")))
        for proposal_id in proposal_ids
        for voter in voters
        for server in (first, second)
    ]
    codes = await asyncio.gather(*(outcome_code(call) for _, _, call in calls))
    per_voter: dict[tuple[str, str], set[grpc.StatusCode]] = {}
    for (proposal_id, voter_id, _), code in zip(calls, codes, strict=True):
        per_voter.setdefault((proposal_id, voter_id), set()).add(code)

    connection = await asyncpg.connect(fresh_database_url)
    try:
        counted = Counter(
            str(row["consensus_id"]) for row in await connection.fetch("SELECT consensus_id FROM consensus_votes")
        )
    finally:
        await connection.close()
    for proposal_id in proposal_ids:
        outcomes = [codes for (pid, _), codes in per_voter.items() if pid == proposal_id]
        # Both copies of a vote get the same answer: counted (then repeated), or too late.
        assert all(len(codes) == 1 for codes in outcomes)
        succeeded = sum(1 for codes in outcomes if codes == {grpc.StatusCode.OK})
        late = sum(1 for codes in outcomes if codes == {grpc.StatusCode.FAILED_PRECONDITION})
        # The proposal was decided by the 5th vote; no vote was counted after the decision.
        assert succeeded == 5 and late == ELECTORATE - 5 and counted[proposal_id] == 5
        final = (await second.stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal_id))).proposal
        assert reverify(final, await second.enrollments()) == Outcome(ProposalState.DECIDED, "yes")

    # Each replica's watcher hears every committed change once: one creation, five counted votes.
    for watch in watches:
        events: list[pb.WatchProposalsResponse] = []
        await collect(watch, events, PROPOSALS * 6, marker.proposal.request_id)
        per_proposal = Counter((event.proposal.proposal_id, event.event_type) for event in events)
        for proposal_id in proposal_ids:
            assert per_proposal[(proposal_id, pb.PROPOSAL_EVENT_TYPE_CREATED)] == 1
            assert per_proposal[(proposal_id, pb.PROPOSAL_EVENT_TYPE_VOTED)] == 5
        watch.cancel()


async def test_concurrent_equivocation_at_two_replicas_counts_one_vote_and_keeps_the_other(
    replicas: tuple[ConsensusServer, ConsensusServer],
) -> None:
    first, second = replicas
    voters = await register_electorate(first, ELECTORATE)
    cheater = voters[0]
    for round_number in range(10):
        proposal_id = (await first.stub.CreateProposal(voters[1].propose(f"round {round_number}"))).proposal.proposal_id
        codes = await asyncio.gather(
            outcome_code(first.stub.Vote(cheater.vote(proposal_id, "yes"))),
            outcome_code(second.stub.Vote(cheater.vote(proposal_id, "no"))),
        )
        assert sorted(code.name for code in codes) == ["ALREADY_EXISTS", "OK"]
        proposal = (await second.stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal_id))).proposal
        [vote] = proposal.votes
        [evidence] = proposal.equivocations
        assert evidence.counted_vote.choice == vote.choice
        assert {vote.choice, evidence.conflicting_vote.choice} == {"yes", "no"}


async def test_the_same_create_request_at_two_replicas_makes_one_proposal(
    replicas: tuple[ConsensusServer, ConsensusServer],
) -> None:
    first, second = replicas
    [proposer] = await register_electorate(first, 1)
    for _ in range(10):
        request = proposer.propose()
        created = await asyncio.gather(first.stub.CreateProposal(request), second.stub.CreateProposal(request))
        assert created[0].proposal.proposal_id == created[1].proposal.proposal_id
    listed = await first.stub.ListProposals(pb.ListProposalsRequest())
    assert len(listed.proposals) == 10


async def test_both_replicas_sweep_but_each_expiry_is_announced_once(
    replicas: tuple[ConsensusServer, ConsensusServer],
) -> None:
    first, _ = replicas
    [proposer] = await register_electorate(first, 1)
    marker = proposer.propose("marker", seconds=600)
    watches = await watch_everywhere(replicas, marker)
    ids = {(await first.stub.CreateProposal(proposer.propose(seconds=0.5))).proposal.proposal_id for _ in range(5)}
    for watch in watches:
        events: list[pb.WatchProposalsResponse] = []
        await collect(watch, events, 10, marker.proposal.request_id)
        expired = [event.proposal.proposal_id for event in events if event.event_type == pb.PROPOSAL_EVENT_TYPE_EXPIRED]
        assert sorted(expired) == sorted(ids)
        # Nothing more: a second announcement of any expiry would arrive within the sweep interval.
        with pytest.raises(asyncio.TimeoutError):
            await next_message(watch, timeout=1.0)
        watch.cancel()
