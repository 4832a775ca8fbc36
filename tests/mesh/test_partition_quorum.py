"""(b) Three voters, one per region: 2 of 3 decide while one region is cut off; with two cut off the
proposal stays open and expires at its deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from cerebro.consensus.client import reverify
from cerebro.consensus.rules import ProposalState
from cerebro.consensus.v1 import consensus_pb2 as pb
from tests.mesh.agents import VoterAgent, get_proposal
from tests.mesh.conftest import REGIONS
from tests.mesh.harness import Mesh

pytestmark = pytest.mark.e2e

PROPOSAL_SECONDS = 6.0
# Statuses a voter sees when its region is cut off from the consensus service.
PARTITIONED = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


@pytest.fixture(scope="module")
def voters(mesh: Mesh) -> Iterator[dict[str, VoterAgent]]:
    # One agent per region for the module: a name stays bound to the key it first registered with.
    agents = {
        region: VoterAgent(f"agent@{region}", region, mesh.links[region].target("consensus"), mesh.operator_tls)
        for region in REGIONS
    }
    try:
        for agent in agents.values():
            mesh.enroll(agent.name, agent.key)
            agent.join()
        yield agents
    finally:
        for agent in agents.values():
            agent.leave()


@pytest.fixture(autouse=True)
def healed_afterwards(mesh: Mesh) -> Iterator[None]:
    yield
    mesh.heal(*(region for region, link in mesh.links.items() if link.is_cut))


def _wait_all_active(mesh: Mesh, agents: dict[str, VoterAgent]) -> None:
    for agent in agents.values():
        mesh.wait_for_status(agent.name, pb.INSTANCE_STATUS_ACTIVE, timeout=20)


def _assert_vote_cut_off(agent: VoterAgent, proposal_id: str) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        agent.vote(proposal_id, "yes")
    assert refused.value.code() in PARTITIONED  # type: ignore[attr-defined]


def _deadline() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=PROPOSAL_SECONDS)


def test_two_of_three_decide_with_one_region_cut_off(mesh: Mesh, voters: dict[str, VoterAgent]) -> None:
    _wait_all_active(mesh, voters)
    proposal = voters["eu"].propose("adopt the ONNX embedder", _deadline())
    assert proposal.electorate_size == 3 and proposal.quorum == 2

    mesh.cut("ap")
    _assert_vote_cut_off(voters["ap"], proposal.proposal_id)
    first = voters["eu"].vote(proposal.proposal_id, "yes")
    assert first.state == pb.PROPOSAL_STATE_OPEN
    decided = voters["us"].vote(proposal.proposal_id, "yes")
    assert decided.state == pb.PROPOSAL_STATE_DECIDED and decided.decided_option == "yes"

    full = get_proposal(mesh.consensus_target(), proposal.proposal_id, mesh.operator_tls)
    assert {vote.voter_id for vote in full.votes} == {voters["eu"].instance_id, voters["us"].instance_id}
    assert reverify(full, mesh.enrollments()).decided_option == "yes"


def test_no_decision_with_two_regions_cut_off_and_expiry_at_deadline(mesh: Mesh, voters: dict[str, VoterAgent]) -> None:
    _wait_all_active(mesh, voters)
    deadline = _deadline()
    proposal = voters["eu"].propose("move the core to ap", deadline)
    assert proposal.electorate_size == 3

    mesh.cut("us", "ap")
    assert voters["eu"].vote(proposal.proposal_id, "yes").state == pb.PROPOSAL_STATE_OPEN
    for region in ("us", "ap"):
        _assert_vote_cut_off(voters[region], proposal.proposal_id)

    # Bounded wait: the deadline plus a few sweeps of the consensus service (one per second).
    wait_until = time.monotonic() + PROPOSAL_SECONDS + 10
    while (state := get_proposal(mesh.consensus_target(), proposal.proposal_id, mesh.operator_tls)).state == (
        pb.PROPOSAL_STATE_OPEN
    ):
        assert time.monotonic() < wait_until, "the proposal never expired"
        time.sleep(0.2)
    assert state.state == pb.PROPOSAL_STATE_EXPIRED
    assert state.resolve_time.ToDatetime(tzinfo=UTC) == deadline
    assert [vote.voter_id for vote in state.votes] == [voters["eu"].instance_id]
    assert reverify(state, mesh.enrollments()).state is ProposalState.EXPIRED
