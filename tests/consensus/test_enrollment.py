"""Enrolment: only operator-enrolled keys join as agents or voters, names belong to their key, and the
electorate of a proposal is the enrolled, active voters, which `reverify` checks again offline."""

from __future__ import annotations

import asyncpg
import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.consensus.client import VerificationError, public_key_bytes, register_request, reverify
from cerebro.consensus.rules import Outcome, ProposalState
from cerebro.consensus.v1 import consensus_pb2 as pb
from services.consensus.store import enrollment
from tests.consensus.harness import ConsensusServer, Member, register, register_electorate


def agent_request(
    key: Ed25519PrivateKey, name: str, *, voting: bool = True, **fields: object
) -> pb.RegisterInstanceRequest:
    return register_request(
        key,
        instance_name=name,
        instance_type=fields.pop("instance_type", pb.INSTANCE_TYPE_PRIMARY),  # type: ignore[arg-type]
        region="eu",
        voting=voting,
        **fields,  # type: ignore[arg-type]
    )


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def full_proposal(server: ConsensusServer, proposal_id: str) -> pb.Proposal:
    return (await server.stub.GetProposal(pb.GetProposalRequest(proposal_id=proposal_id))).proposal


async def test_unenrolled_agents_and_voters_are_refused_and_nothing_is_written(consensus: ConsensusServer) -> None:
    key = Ed25519PrivateKey.generate()
    for request in (
        agent_request(key, "SYBIL-1"),
        agent_request(key, "SYBIL-2", voting=False),
        agent_request(key, "SYBIL-3", instance_type=pb.INSTANCE_TYPE_SPECIALIZED),
        # A service replica that wants a vote needs one enrolled too.
        agent_request(key, "SYBIL-4", instance_type=pb.INSTANCE_TYPE_WORKER),
    ):
        error = await refused(consensus.stub.RegisterInstance(request))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "not enrolled" in (error.details() or "")

    # Enrolled without a vote: it joins, but not as a voter.
    await consensus.enroll("OBSERVER", key, voting=False)
    error = await refused(consensus.stub.RegisterInstance(agent_request(key, "OBSERVER")))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED and "without a vote" in (error.details() or "")
    joined = await consensus.stub.RegisterInstance(agent_request(key, "OBSERVER", voting=False))
    assert not joined.instance.voting

    listed = await consensus.stub.ListInstances(pb.ListInstancesRequest())
    assert [instance.instance_name for instance in listed.instances] == ["OBSERVER"]


async def test_a_name_belongs_to_its_enrolled_key(consensus: ConsensusServer) -> None:
    real, squatter = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    # Before the enrolment, a squatter holds the name as a (non-voting) service replica, which needs none.
    taken = await consensus.stub.RegisterInstance(
        agent_request(squatter, "ZETA3", voting=False, instance_type=pb.INSTANCE_TYPE_WORKER)
    )
    # An unenrolled name stays with the first key that took it.
    other = await refused(
        consensus.stub.RegisterInstance(
            agent_request(Ed25519PrivateKey.generate(), "ZETA3", voting=False, instance_type=pb.INSTANCE_TYPE_WORKER)
        )
    )
    assert other.code() == grpc.StatusCode.ALREADY_EXISTS

    await consensus.enroll("ZETA3", real)
    # The enrolled key takes its name back, with the same instance id; the squatter's key no longer works.
    joined = await consensus.stub.RegisterInstance(agent_request(real, "ZETA3"))
    assert joined.instance.instance_id == taken.instance.instance_id
    assert joined.instance.public_key == public_key_bytes(real) and joined.instance.voting
    again = await refused(
        consensus.stub.RegisterInstance(
            agent_request(squatter, "ZETA3", voting=False, instance_type=pb.INSTANCE_TYPE_WORKER)
        )
    )
    assert again.code() == grpc.StatusCode.PERMISSION_DENIED and "enrolled for another key" in (again.details() or "")


async def test_the_electorate_is_the_enrolled_active_voters(consensus: ConsensusServer) -> None:
    voters = await register_electorate(consensus, 3)
    # A voter registered before enrolment existed (written as an older release would have): never an elector.
    legacy_key = Ed25519PrivateKey.generate()
    await consensus.enroll("LEGACY", legacy_key)
    legacy = await consensus.stub.RegisterInstance(agent_request(legacy_key, "LEGACY"))
    admin = await asyncpg.connect(consensus.operator_url)
    try:
        await admin.execute("DELETE FROM instance_enrollments WHERE instance_name = 'LEGACY'")
    finally:
        await admin.close()

    proposal = (await consensus.stub.CreateProposal(voters[0].propose())).proposal
    electors = {elector.instance_id for elector in proposal.electorate}
    assert electors == {voter.instance_id for voter in voters}
    assert legacy.instance.instance_id not in electors
    assert (proposal.electorate_size, proposal.quorum) == (3, 2)
    for voter in voters[:2]:
        await consensus.stub.Vote(voter.vote(proposal.proposal_id, "yes"))
    final = await full_proposal(consensus, proposal.proposal_id)
    assert reverify(final, await consensus.enrollments()) == Outcome(ProposalState.DECIDED, "yes")

    # Offline, an elector without an enrolment at creation time makes the outcome unverifiable.
    others = [e for e in await consensus.enrollments() if e.instance_name != voters[2].name]
    with pytest.raises(VerificationError, match=f"elector {voters[2].name} .* was not an enrolled voter"):
        reverify(final, others)


async def test_only_enrolled_instances_propose(consensus: ConsensusServer) -> None:
    await register_electorate(consensus, 2)
    key = Ed25519PrivateKey.generate()
    await consensus.enroll("PROPOSER", key, voting=False)
    registered = await consensus.stub.RegisterInstance(agent_request(key, "PROPOSER", voting=False))
    proposer = Member("PROPOSER", key, registered.instance.instance_id)
    await consensus.stub.CreateProposal(proposer.propose("enrolled, not voting: may propose"))

    admin = await asyncpg.connect(consensus.operator_url)
    try:
        await enrollment.revoke(admin, "PROPOSER", by="test")
    finally:
        await admin.close()
    error = await refused(consensus.stub.CreateProposal(proposer.propose("revoked: may not")))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_revoking_deregisters_and_stops_votes_and_keeps_the_audit_trail(consensus: ConsensusServer) -> None:
    first, second, third = await register_electorate(consensus, 3)
    proposal = (await consensus.stub.CreateProposal(first.propose())).proposal
    admin = await asyncpg.connect(consensus.operator_url)
    try:
        revoked = await enrollment.revoke(admin, third.name, by="ops@test")
        assert revoked is not None and revoked.revoked_by == "ops@test" and revoked.revoked_as
        assert await enrollment.revoke(admin, third.name, by="ops@test") is None  # nothing left to revoke
    finally:
        await admin.close()

    state = await consensus.stub.GetInstance(pb.GetInstanceRequest(instance_id=third.instance_id))
    assert state.instance.status == pb.INSTANCE_STATUS_OFFLINE
    # Still an elector of the proposal frozen before, but its votes are refused now.
    error = await refused(consensus.stub.Vote(third.vote(proposal.proposal_id, "no")))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED and "revoked" in (error.details() or "")
    # Its re-registration is refused, and the next proposal's electorate is without it.
    again = await refused(consensus.stub.RegisterInstance(agent_request(third.key, third.name)))
    assert again.code() == grpc.StatusCode.PERMISSION_DENIED
    later = (await consensus.stub.CreateProposal(first.propose("after the revocation"))).proposal
    assert {elector.instance_id for elector in later.electorate} == {first.instance_id, second.instance_id}

    # Enrolled again with a new key: it joins under the same instance id, and the trail has both acts.
    new_key = Ed25519PrivateKey.generate()
    rejoined = await register(consensus, third.name, key=new_key)
    assert rejoined.instance_id == third.instance_id
    trail = [e for e in await consensus.enrollments() if e.instance_name == third.name]
    assert [(e.public_key, e.revoke_time is not None) for e in trail] == [
        (public_key_bytes(third.key), True),
        (public_key_bytes(new_key), False),
    ]


async def test_enrolment_refuses_ambiguity(consensus: ConsensusServer) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    admin = await asyncpg.connect(consensus.operator_url)
    try:
        first = await enrollment.enroll(admin, "NEXUS", public_key_bytes(key), voting=True, by="ops")
        # The same enrolment again changes nothing.
        assert await enrollment.enroll(admin, "NEXUS", public_key_bytes(key), voting=True, by="ops") == first
        with pytest.raises(enrollment.EnrollmentError, match="revoke it first"):
            await enrollment.enroll(admin, "NEXUS", public_key_bytes(other), voting=True, by="ops")
        with pytest.raises(enrollment.EnrollmentError, match="revoke it first"):
            await enrollment.enroll(admin, "NEXUS", public_key_bytes(key), voting=False, by="ops")
        with pytest.raises(enrollment.EnrollmentError, match="enrolled for NEXUS"):
            await enrollment.enroll(admin, "ARIA", public_key_bytes(key), voting=True, by="ops")
        with pytest.raises(enrollment.EnrollmentError, match="not an instance name"):
            await enrollment.enroll(admin, "two words", public_key_bytes(other), voting=True, by="ops")
        with pytest.raises(enrollment.EnrollmentError, match="32 bytes"):
            await enrollment.enroll(admin, "ARIA", b"short", voting=True, by="ops")
        active = await enrollment.list_enrollments(admin, include_revoked=False)
    finally:
        await admin.close()
    assert [(record.instance_name, record.enrolled_by) for record in active] == [("NEXUS", "ops")]
