"""Sybil and name squatting under `cerebro up` (issue #12, finding 2).

The report registered eight self-signed voters directly on consensus; with three real agents voting yes
and the eight no, the proposal was decided "no" and `reverify` accepted it. A fake also took the name
ZETA3 before the real ZETA3. Here only keys an operator enrolled join, the electorate is the enrolled
voters, and a name belongs to its enrolled key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.client import CerebroClient, ClientSettings, errors
from cerebro.client.signing import AgentSigner, registration_request
from cerebro.consensus.client import public_key_bytes, register_request, reverify, vote_request
from cerebro.consensus.rules import Outcome, ProposalState
from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.gateway.v1 import gateway_pb2_grpc
from cerebro.runtime.registration import load_or_create_identity_key
from cerebro.runtime.roles import Role
from tests.bad_actors.conftest import Up

pytestmark = pytest.mark.e2e

CALL_SECONDS = 10
SYBILS = 8


@dataclass
class Agent:
    name: str
    client: CerebroClient
    key_file: Path


def join(up: Up, name: str, *, enrolled: bool = True) -> Agent:
    """An agent with its API key; enrolled by the operator (or not), then joined through the gateway."""
    key_file = up.scratch / "agents" / f"{name}.pem"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    load_or_create_identity_key(key_file)
    if enrolled:
        up.enroll(name, key_file)
    client = CerebroClient(ClientSettings(target=up.gateway_target, api_key=up.issue_key(name.lower(), name)))
    if enrolled:
        client.register_instance(name, key_file, keep_lease=False, timeout=CALL_SECONDS)
    return Agent(name, client, key_file)


@pytest.fixture(scope="module")
def agents(up: Up) -> Iterator[list[Agent]]:
    suffix = uuid.uuid4().hex[:6]
    joined = [join(up, f"{name}-{suffix}") for name in ("NEXUS", "ARIA", "ATLAS")]
    yield joined
    for agent in joined:
        agent.client.close()


def test_self_signed_voters_cannot_register_any_way(up: Up) -> None:
    sybils = [(f"SYBIL-{index}-{uuid.uuid4().hex[:6]}", Ed25519PrivateKey.generate()) for index in range(SYBILS)]
    for name, key in sybils:
        request = register_request(
            key, instance_name=name, instance_type=consensus_pb2.INSTANCE_TYPE_PRIMARY, region="local", voting=True
        )
        # Directly on consensus, as the report did: plaintext gets no answer at all...
        with up.channel(Role.CONSENSUS, None) as channel, pytest.raises(grpc.RpcError) as plaintext:
            consensus_pb2_grpc.ConsensusServiceStub(channel).RegisterInstance(request, timeout=CALL_SECONDS)
        assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
        # ...and even with a certificate of the mesh (an operator's tool, or a stolen service certificate),
        # a key nobody enrolled is refused.
        for role in (Role.OPERATOR, Role.GATEWAY):
            with up.channel(Role.CONSENSUS, role) as channel, pytest.raises(grpc.RpcError) as refused:
                consensus_pb2_grpc.ConsensusServiceStub(channel).RegisterInstance(request, timeout=CALL_SECONDS)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
            assert "not enrolled" in (refused.value.details() or "")  # type: ignore[attr-defined]
    # Through the gateway, with an API key bound to the name: the same refusal.
    name, key = sybils[0]
    with grpc.insecure_channel(up.gateway_target) as channel:
        token = up.issue_key(name.lower(), name)
        with pytest.raises(grpc.RpcError) as through_gateway:
            gateway_pb2_grpc.AgentGatewayStub(channel).RegisterInstance(
                registration_request(key, name, region="local"),
                metadata=[("authorization", f"Bearer {token}")],
                timeout=CALL_SECONDS,
            )
    assert through_gateway.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    with up.channel(Role.CONSENSUS, Role.OPERATOR) as channel:
        listed = consensus_pb2_grpc.ConsensusServiceStub(channel).ListInstances(
            consensus_pb2.ListInstancesRequest(page_size=1000), timeout=CALL_SECONDS
        )
    assert not {instance.instance_name for instance in listed.instances} & {name for name, _ in sybils}


def test_a_name_cannot_be_squatted(up: Up) -> None:
    name = f"ZETA3-{uuid.uuid4().hex[:6]}"
    squatter = join(up, name, enrolled=False)
    squatter_key = load_or_create_identity_key(squatter.key_file)
    try:
        # The squatter holds an API key bound to the name, but no enrolled key: it cannot take the name.
        with pytest.raises(errors.PermissionDenied):
            squatter.client.register_instance(name, squatter.key_file, keep_lease=False, timeout=CALL_SECONDS)
        # The operator enrols the real ZETA3's key; the real one joins (through the gateway, with its own key).
        real_key_file = up.scratch / "agents" / f"{name}-real.pem"
        load_or_create_identity_key(real_key_file)
        up.enroll(name, real_key_file, voting=False)  # not a voter: the other scenarios' electorate stays theirs
        joined = squatter.client.register_instance(
            name, real_key_file, voting=False, keep_lease=False, timeout=CALL_SECONDS
        )
        assert joined.instance.public_key == public_key_bytes(load_or_create_identity_key(real_key_file))
        # The squatter's key is refused for that name from now on, whoever forwards it.
        request = register_request(
            squatter_key,
            instance_name=name,
            instance_type=consensus_pb2.INSTANCE_TYPE_PRIMARY,
            region="local",
            voting=False,
        )
        with up.channel(Role.CONSENSUS, Role.OPERATOR) as channel, pytest.raises(grpc.RpcError) as refused:
            consensus_pb2_grpc.ConsensusServiceStub(channel).RegisterInstance(request, timeout=CALL_SECONDS)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        assert "enrolled for another key" in (refused.value.details() or "")  # type: ignore[attr-defined]
    finally:
        squatter.client.close()


def test_eight_fake_voters_cannot_change_a_decision(up: Up, agents: list[Agent]) -> None:
    proposer = agents[0]
    proposal = proposer.client.propose("adopt the tuned reconnect backoff?", timeout=CALL_SECONDS).proposal
    electors = {elector.instance_id: elector for elector in proposal.electorate}
    ours = {agent.client.signer.instance_id for agent in agents if agent.client.signer is not None}
    assert ours <= electors.keys()
    # Every elector is an enrolled voter with that very key: the electorate holds no self-signed key.
    enrolled = {(e.instance_name, e.public_key) for e in up.enrollments() if e.voting and e.revoke_time is None}
    assert {(elector.instance_name, elector.public_key) for elector in proposal.electorate} <= enrolled

    # Eight fakes vote "no": as themselves (no instance), or as a real agent's instance with their own key.
    for _ in range(SYBILS):
        fake = Ed25519PrivateKey.generate()
        for voter_id, expected in (
            (str(uuid.uuid4()), grpc.StatusCode.PERMISSION_DENIED),
            (next(iter(ours)), grpc.StatusCode.UNAUTHENTICATED),
        ):
            with up.channel(Role.CONSENSUS, Role.OPERATOR) as channel, pytest.raises(grpc.RpcError) as refused:
                consensus_pb2_grpc.ConsensusServiceStub(channel).Vote(
                    vote_request(fake, proposal.proposal_id, voter_id, "no"), timeout=CALL_SECONDS
                )
            assert refused.value.code() == expected  # type: ignore[attr-defined]

    # The report's proposal had electorate 11 and quorum 8 (3 agents + 8 fakes); this one has the 3 agents.
    assert (proposal.electorate_size, proposal.quorum) == (3, 2)
    first = agents[0].client.vote(proposal.proposal_id, "yes", timeout=CALL_SECONDS).proposal
    assert first.state == consensus_pb2.PROPOSAL_STATE_OPEN
    decided = agents[1].client.vote(proposal.proposal_id, "yes", timeout=CALL_SECONDS).proposal
    assert decided.state == consensus_pb2.PROPOSAL_STATE_DECIDED and decided.decided_option == "yes"
    final = agents[2].client.get_decision(proposal.proposal_id, timeout=CALL_SECONDS).proposal
    assert [vote.choice for vote in final.votes] == ["yes", "yes"]
    assert reverify(final, up.enrollments()) == Outcome(ProposalState.DECIDED, "yes")


def test_a_revoked_agent_leaves_and_votes_no_more(up: Up, agents: list[Agent]) -> None:
    leaving = join(up, f"LEAVING-{uuid.uuid4().hex[:6]}")
    try:
        proposal = agents[0].client.propose("keep the leaving agent?", timeout=CALL_SECONDS).proposal
        assert leaving.client.signer is not None
        assert leaving.client.signer.instance_id in {elector.instance_id for elector in proposal.electorate}
        up.cerebro("instances", "revoke", leaving.name)
        with pytest.raises(errors.PermissionDenied):
            leaving.client.vote(proposal.proposal_id, "no", timeout=CALL_SECONDS)
        with pytest.raises(errors.PermissionDenied):
            leaving.client.register_instance(leaving.name, leaving.key_file, keep_lease=False, timeout=CALL_SECONDS)
        later = agents[0].client.propose("and now?", timeout=CALL_SECONDS).proposal
        assert leaving.client.signer.instance_id not in {elector.instance_id for elector in later.electorate}
    finally:
        leaving.client.close()


def test_an_agent_signer_of_another_key_is_refused(up: Up, agents: list[Agent]) -> None:
    """A forwarded vote signed by a key that is not the elector's own is UNAUTHENTICATED, even for a real id."""
    real = agents[2].client.signer
    assert real is not None
    proposal = agents[0].client.propose("who signs?", timeout=CALL_SECONDS).proposal
    impostor = AgentSigner(Ed25519PrivateKey.generate(), real.instance_id)
    with grpc.insecure_channel(up.gateway_target) as channel, pytest.raises(grpc.RpcError) as refused:
        gateway_pb2_grpc.AgentGatewayStub(channel).Vote(
            impostor.vote_request(proposal.proposal_id, "no"),
            metadata=[("authorization", f"Bearer {agents[2].client.settings.api_key}")],
            timeout=CALL_SECONDS,
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
