"""Bad input fails with INVALID_ARGUMENT naming every bad field (or NOT_FOUND), and writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.message import Message

from cerebro.consensus.client import create_proposal_request, register_request
from cerebro.consensus.v1 import consensus_pb2 as pb
from tests.consensus.harness import ConsensusServer, Member, field_violations, register_electorate

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
TABLES = (
    "instance_network",
    "distributed_consensus",
    "consensus_electors",
    "consensus_votes",
    "consensus_equivocations",
)


def in_hours(hours: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


def registration(**changes: object) -> pb.RegisterInstanceRequest:
    request = register_request(
        Ed25519PrivateKey.generate(), instance_name="NEXUS", instance_type=pb.INSTANCE_TYPE_PRIMARY, region="eu"
    )
    for name, value in changes.items():
        target = request if name in ("signature",) else request.instance
        if isinstance(value, list):
            target.ClearField(name)
            getattr(target, name).extend(value)
        else:
            setattr(target, name, value)
    return request


def proposal(member: Member, **changes: object) -> pb.CreateProposalRequest:
    request = create_proposal_request(member.key, proposer_id=member.instance_id, topic="t", deadline=in_hours(1))
    for name, value in changes.items():
        if isinstance(value, list):
            request.proposal.ClearField(name)
            getattr(request.proposal, name).extend(value)
        elif name == "deadline":
            request.proposal.deadline.FromDatetime(value)  # type: ignore[arg-type]
        else:
            setattr(request.proposal, name, value)
    return request


def invalid_requests(member: Member, proposal_id: str) -> list[tuple[str, Message, list[str]]]:
    """(method, request, the fields its violations must name, in order)."""
    return [
        (
            "RegisterInstance",
            pb.RegisterInstanceRequest(),
            [
                "instance.instance_name",
                "instance.instance_type",
                "instance.region",
                "instance.public_key",
                "sign_time",
                "signature",
            ],
        ),
        (
            "RegisterInstance",
            registration(instance_name="has space", region="x" * 101, public_key=b"\x01" * 31, signature=b"short"),
            ["instance.instance_name", "instance.region", "instance.public_key", "signature"],
        ),
        (
            "RegisterInstance",
            registration(capabilities=["memory", "memory", ""], endpoints=["grpc://a b"]),
            ["instance.capabilities[1]", "instance.capabilities[2]", "instance.endpoints[0]"],
        ),
        ("RegisterInstance", registration(capabilities=[f"c{i}" for i in range(65)]), ["instance.capabilities"]),
        ("Heartbeat", pb.HeartbeatRequest(instance_id="nope"), ["instance_id", "sign_time", "signature"]),
        ("DeregisterInstance", pb.DeregisterInstanceRequest(instance_id=""), ["instance_id", "sign_time", "signature"]),
        ("GetInstance", pb.GetInstanceRequest(instance_id="1234"), ["instance_id"]),
        ("ListInstances", pb.ListInstancesRequest(status=99), ["status"]),  # type: ignore[arg-type]
        (
            "CreateProposal",
            proposal(member, topic="   ", deadline=in_hours(-1), options=["yes", "yes"]),
            ["proposal.topic", "proposal.options[1]", "proposal.deadline"],
        ),
        ("CreateProposal", proposal(member, options=["", "x"]), ["proposal.options[0]"]),
        ("CreateProposal", proposal(member, options=["only"]), ["proposal.options"]),
        ("CreateProposal", proposal(member, topic="x" * 4001), ["proposal.topic"]),
        ("CreateProposal", proposal(member, deadline=in_hours(24 * 8)), ["proposal.deadline"]),
        (
            "CreateProposal",
            proposal(member, request_id="r1", proposer_id="", proposer_signature=b"\x00" * 63),
            ["proposal.request_id", "proposal.proposer_id", "proposal.proposer_signature"],
        ),
        (
            "CreateProposal",
            pb.CreateProposalRequest(),
            [
                "proposal.request_id",
                "proposal.topic",
                "proposal.deadline",
                "proposal.proposer_id",
                "proposal.proposer_signature",
            ],
        ),
        (
            "Vote",
            pb.VoteRequest(proposal_id="p", voter_id="v", signature=b"\x00" * 65),
            [
                "proposal_id",
                "voter_id",
                "choice",
                "signature",
            ],
        ),
        ("Vote", member.vote(proposal_id, "maybe"), ["choice"]),
        ("GetProposal", pb.GetProposalRequest(proposal_id=proposal_id, view=7), ["view"]),  # type: ignore[arg-type]
        ("GetProposal", pb.GetProposalRequest(), ["proposal_id"]),
        (
            "ListProposals",
            pb.ListProposalsRequest(proposer_id="bad", state=9),  # type: ignore[arg-type]
            ["state", "proposer_id"],
        ),
    ]


@pytest.fixture
async def database(fresh_database_url: str, consensus: ConsensusServer) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(fresh_database_url)
    try:
        yield connection
    finally:
        await connection.close()


async def fingerprint(connection: asyncpg.Connection) -> list[str | None]:
    """Every row of every table, hashed: equal fingerprints mean nothing was written."""
    return [
        await connection.fetchval(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t")
        for table in TABLES
    ]


async def test_invalid_arguments_name_every_bad_field_and_write_nothing(
    consensus: ConsensusServer, database: asyncpg.Connection
) -> None:
    member, _ = await register_electorate(consensus, 2)
    proposal_id = (await consensus.stub.CreateProposal(member.propose())).proposal.proposal_id
    before = await fingerprint(database)
    for method, request, fields in invalid_requests(member, proposal_id):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await getattr(consensus.stub, method)(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, request)
        assert [field for field, _ in field_violations(caught.value)] == fields, (method, caught.value.details())
    assert await fingerprint(database) == before


async def test_unknown_ids_are_not_found_and_write_nothing(
    consensus: ConsensusServer, database: asyncpg.Connection
) -> None:
    member, _ = await register_electorate(consensus, 2)
    before = await fingerprint(database)
    calls = [
        consensus.stub.GetInstance(pb.GetInstanceRequest(instance_id=UNKNOWN_ID)),
        consensus.stub.GetProposal(pb.GetProposalRequest(proposal_id=UNKNOWN_ID)),
        consensus.stub.Vote(member.vote(UNKNOWN_ID, "yes")),
        consensus.stub.CreateProposal(
            create_proposal_request(member.key, proposer_id=UNKNOWN_ID, topic="t", deadline=in_hours(1))
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    watch = consensus.stub.WatchProposals(pb.WatchProposalsRequest(proposal_id=UNKNOWN_ID))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await watch.read()
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert await fingerprint(database) == before
