"""The consensus metrics the dashboard reads, scraped from the server's real /metrics endpoint.

The registry is shared by every test of the process, so proposal outcomes are checked as differences.
"""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cerebro.consensus.client import deregister_request
from cerebro.consensus.v1 import consensus_pb2 as pb
from tests.consensus.harness import ConsensusServer, consensus_server, register, register_electorate
from tests.support import eventually

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

# A sweeper that runs once at start-up and then not again within a test.
NO_SWEEP = {"CEREBRO_CONSENSUS_SWEEP_INTERVAL_SECONDS": "60"}


def _scrape_blocking(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(server: ConsensusServer) -> Samples:
    assert server.host.bound_metrics_port is not None
    return await asyncio.to_thread(_scrape_blocking, server.host.bound_metrics_port)


def finished(samples: Samples, outcome: str) -> float:
    return samples.get(("consensus_proposals_finished_total", frozenset({("outcome", outcome)})), 0.0)


def instances(samples: Samples, status: str, region: str) -> float | None:
    return samples.get(("consensus_instances", frozenset({("status", status), ("region", region)})))


def outcome_changes(before: Samples, after: Samples) -> dict[str, float]:
    outcomes = ("decided", "rejected", "expired")
    return {outcome: finished(after, outcome) - finished(before, outcome) for outcome in outcomes}


async def test_decided_and_rejected_outcomes_are_counted_once(consensus: ConsensusServer) -> None:
    stub = consensus.stub
    members = await register_electorate(consensus, 3)  # quorum 2
    before = await scrape(consensus)

    decided_id = (await stub.CreateProposal(members[0].propose())).proposal.proposal_id
    await stub.Vote(members[0].vote(decided_id, "yes"))
    assert (await stub.Vote(members[1].vote(decided_id, "yes"))).proposal.state == pb.PROPOSAL_STATE_DECIDED
    # The deciding voter's retry succeeds again, but the proposal finished only once.
    assert (await stub.Vote(members[1].vote(decided_id, "yes"))).proposal.state == pb.PROPOSAL_STATE_DECIDED

    rejected_id = (await stub.CreateProposal(members[0].propose(options=["a", "b", "c"]))).proposal.proposal_id
    for member, choice in zip(members, "abc", strict=True):
        await stub.Vote(member.vote(rejected_id, choice))
    assert (await stub.GetProposal(pb.GetProposalRequest(proposal_id=rejected_id))).proposal.state == (
        pb.PROPOSAL_STATE_REJECTED
    )

    assert outcome_changes(before, await scrape(consensus)) == {"decided": 1, "rejected": 1, "expired": 0}


async def test_expiry_written_by_a_late_vote_is_counted_once(fresh_database_url: str, tmp_path: Path) -> None:
    async with consensus_server(fresh_database_url, tmp_path, NO_SWEEP) as server:
        first, second, third = await register_electorate(server, 3)
        proposal_id = (await server.stub.CreateProposal(first.propose(seconds=0.5))).proposal.proposal_id
        before = await scrape(server)
        await asyncio.sleep(0.7)
        for late in (second, third):  # the first late vote writes the expiry; the second finds it written
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await server.stub.Vote(late.vote(proposal_id, "yes"))
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert outcome_changes(before, await scrape(server)) == {"decided": 0, "rejected": 0, "expired": 1}


async def test_expiry_written_by_the_sweeper_is_counted_once(consensus: ConsensusServer) -> None:
    voter = await register(consensus)
    before = await scrape(consensus)
    await consensus.stub.CreateProposal(voter.propose(seconds=0.3))
    await consensus.stub.CreateProposal(voter.propose(seconds=0.3))

    async def both_expired() -> bool:
        return outcome_changes(before, await scrape(consensus))["expired"] >= 2

    await eventually(both_expired)
    await asyncio.sleep(0.3)  # a few more sweeps count nothing more
    assert outcome_changes(before, await scrape(consensus)) == {"decided": 0, "rejected": 0, "expired": 2}


async def test_instances_by_status_and_region_follow_the_registry(consensus: ConsensusServer) -> None:
    stub = consensus.stub
    await register(consensus, region="metrics-eu")
    await register(consensus, region="metrics-eu")
    leaving = await register(consensus, region="metrics-us")

    async def registered() -> bool:
        samples = await scrape(consensus)
        return instances(samples, "active", "metrics-eu") == 2 and instances(samples, "active", "metrics-us") == 1

    await eventually(registered)
    await stub.DeregisterInstance(deregister_request(leaving.key, leaving.instance_id))

    async def deregistered() -> bool:
        samples = await scrape(consensus)
        return (
            instances(samples, "active", "metrics-eu") == 2
            and instances(samples, "active", "metrics-us") == 0
            and instances(samples, "offline", "metrics-us") == 1
        )

    await eventually(deregistered)
