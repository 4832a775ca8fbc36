"""Round trips between the consensus service and PostgreSQL, counted by a proxy between them (steady
state: statements prepared first; the least of a few measurements, as in tests/memory/test_round_trips.py).

Every write is one round trip; the checks each one keeps (signatures, enrolment, double votes, the
electorate) are tested with the write itself in test_registry.py, test_enrollment.py and test_voting.py.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.consensus.client import deregister_request, heartbeat_request, register_request
from cerebro.consensus.v1 import consensus_pb2 as pb
from tests.consensus.harness import consensus_server, register, register_electorate
from tests.tcp_proxy import proxied

WARM_UP_CALLS = 3
MEASUREMENTS = 4
# The proxy counts every connection's round trips: the sweeper (every 0.1 s in the harness) would add its
# own to a call that takes longer than that on a loaded machine.
QUIET_SWEEPER = {"CEREBRO_CONSENSUS_SWEEP_INTERVAL_SECONDS": "60"}


async def test_a_heartbeat_and_a_deregistration_are_one_round_trip_and_refusals_still_explain_themselves(
    fresh_database_url: str, tmp_path: Path
) -> None:
    async with (
        proxied(fresh_database_url) as (counter, url),
        consensus_server(url, tmp_path, QUIET_SWEEPER) as server,
    ):
        member = await register(server, "ARIA")
        counts = []
        for _ in range(3 + MEASUREMENTS):
            before = counter.round_trips
            renewed = await server.stub.Heartbeat(heartbeat_request(member.key, member.instance_id))
            counts.append(counter.round_trips - before)
            assert renewed.instance.status == pb.INSTANCE_STATUS_ACTIVE
        assert min(counts[3:]) == 1

        # The same signed request again is accepted as the same request (the locked way answers it).
        repeated = heartbeat_request(member.key, member.instance_id)
        await server.stub.Heartbeat(repeated)
        again = await server.stub.Heartbeat(repeated)
        assert again.instance.instance_id == member.instance_id
        with pytest.raises(grpc.aio.AioRpcError) as forged:
            await server.stub.Heartbeat(heartbeat_request(Ed25519PrivateKey.generate(), member.instance_id))
        assert forged.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # A deregistration is one round trip too (registering again in between).
        deregistrations = []
        for _ in range(3 + MEASUREMENTS):
            before = counter.round_trips
            gone = await server.stub.DeregisterInstance(deregister_request(member.key, member.instance_id))
            deregistrations.append(counter.round_trips - before)
            assert gone.instance.status == pb.INSTANCE_STATUS_OFFLINE
            await register(server, member.name, key=member.key)
        assert min(deregistrations[3:]) == 1
        # The key is known to this replica, but the row is deregistered: no lease renewed.
        await server.stub.DeregisterInstance(deregister_request(member.key, member.instance_id))
        with pytest.raises(grpc.aio.AioRpcError) as deregistered:
            await server.stub.Heartbeat(heartbeat_request(member.key, member.instance_id))
        assert deregistered.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_register_propose_and_vote_are_one_round_trip_each(fresh_database_url: str, tmp_path: Path) -> None:
    async with (
        proxied(fresh_database_url) as (counter, url),
        consensus_server(url, tmp_path, QUIET_SWEEPER) as server,
    ):
        members = await register_electorate(server, 4)  # quorum 3
        key, name = members[0].key, members[0].name

        async def register_again() -> pb.RegisterInstanceResponse:
            return await server.stub.RegisterInstance(
                register_request(
                    key, instance_name=name, instance_type=pb.INSTANCE_TYPE_PRIMARY, region="local", voting=True
                )
            )

        assert await counter.least_round_trips(register_again) == 1

        async def propose() -> pb.CreateProposalResponse:
            return await server.stub.CreateProposal(members[1].propose())

        assert await counter.least_round_trips(propose) == 1

        proposals = [(await propose()).proposal.proposal_id for _ in range(WARM_UP_CALLS + MEASUREMENTS)]
        votes, deciding = [], []
        for proposal_id in proposals:
            before = counter.round_trips
            voted = await server.stub.Vote(members[0].vote(proposal_id, "yes"))
            votes.append(counter.round_trips - before)
            assert voted.proposal.tally[0].votes == 1 and voted.proposal.state == pb.PROPOSAL_STATE_OPEN
            await server.stub.Vote(members[1].vote(proposal_id, "yes"))
            # The deciding vote too: it writes the outcome in the same statement.
            before = counter.round_trips
            decided = await server.stub.Vote(members[2].vote(proposal_id, "yes"))
            deciding.append(counter.round_trips - before)
            assert decided.proposal.state == pb.PROPOSAL_STATE_DECIDED and decided.proposal.decided_option == "yes"
        assert min(votes[WARM_UP_CALLS:]) == 1
        assert min(deciding[WARM_UP_CALLS:]) == 1


async def test_a_replica_that_has_not_seen_the_electorate_reads_it_once(
    fresh_database_url: str, tmp_path: Path
) -> None:
    async with (
        consensus_server(fresh_database_url, tmp_path / "first") as first,
        proxied(fresh_database_url) as (counter, url),
        consensus_server(url, tmp_path / "second", QUIET_SWEEPER) as second,
    ):
        members = await register_electorate(first, 3)
        # Warm the second replica's statements up on proposals of its own.
        for _ in range(WARM_UP_CALLS):
            own = (await second.stub.CreateProposal(members[0].propose())).proposal.proposal_id
            await second.stub.Vote(members[0].vote(own, "yes"))
        seen_elsewhere = [
            (await first.stub.CreateProposal(members[0].propose())).proposal.proposal_id for _ in range(MEASUREMENTS)
        ]
        first_votes, second_votes = [], []
        for proposal_id in seen_elsewhere:
            for member, counts in ((members[1], first_votes), (members[2], second_votes)):
                before = counter.round_trips
                await second.stub.Vote(member.vote(proposal_id, "yes"))
                counts.append(counter.round_trips - before)
        assert min(first_votes) == 2  # the electorate read, then the vote
        assert min(second_votes) == 1
