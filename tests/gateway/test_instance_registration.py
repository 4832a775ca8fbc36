"""Agents join, renew and leave the instance network through the gateway, with their own signatures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.client.signing import AgentSigner, registration_request
from cerebro.consensus.v1 import consensus_pb2
from cerebro.gateway.v1 import gateway_pb2 as pb
from services.gateway.discovery import active_replicas
from services.gateway.store.credentials import Scope
from tests.gateway.harness import Mesh, bearer, violated_fields


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def test_an_agent_joins_renews_proposes_and_leaves_through_the_gateway(mesh: Mesh) -> None:
    name = unique("NEXUS")
    token = bearer((await mesh.issue(name.lower(), instance_name=name)).token)
    key = Ed25519PrivateKey.generate()
    stub = mesh.gateway.stub
    await mesh.consensus.enroll(name, key)

    joined = await stub.RegisterInstance(
        registration_request(key, name, region="eu-west", capabilities=["planning"]), metadata=token
    )
    instance = joined.instance
    assert joined.created and joined.lease_ttl_seconds > 0
    assert (instance.instance_name, instance.region, list(instance.capabilities)) == (name, "eu-west", ["planning"])
    assert instance.instance_type == consensus_pb2.INSTANCE_TYPE_PRIMARY
    assert instance.status == consensus_pb2.INSTANCE_STATUS_ACTIVE
    again = await stub.RegisterInstance(registration_request(key, name, region="eu-west"), metadata=token)
    assert not again.created and again.instance.instance_id == instance.instance_id

    signer = AgentSigner(key, instance.instance_id)
    renewed = await stub.RenewInstanceLease(signer.renew_lease_request(), metadata=token)
    assert renewed.instance.lease_expire_time.ToDatetime() >= again.instance.lease_expire_time.ToDatetime()

    # The instance id the gateway returned is the one proposals and votes are signed with, and the
    # registered agent is in the electorate.
    deadline = datetime.now(UTC) + timedelta(minutes=5)
    proposed = await stub.Propose(signer.propose_request("adopt joining through the gateway", deadline), metadata=token)
    assert instance.instance_id in [elector.instance_id for elector in proposed.proposal.electorate]
    await stub.Vote(signer.vote_request(proposed.proposal.proposal_id, "yes"), metadata=token)
    decision = await stub.GetDecision(pb.GetDecisionRequest(proposal_id=proposed.proposal.proposal_id), metadata=token)
    assert [vote.voter_id for vote in decision.proposal.votes] == [instance.instance_id]

    left = await stub.DeregisterInstance(signer.deregister_request(), metadata=token)
    assert left.instance.status == consensus_pb2.INSTANCE_STATUS_OFFLINE
    listed = await stub.ListConnectedInstances(pb.ListConnectedInstancesRequest(region="eu-west"), metadata=token)
    assert name not in [connected.instance_name for connected in listed.instances]


async def test_a_credential_registers_only_its_own_instance_and_only_as_an_agent(mesh: Mesh, namespace: str) -> None:
    name = unique("ARIA")
    token = bearer((await mesh.issue(namespace, instance_name=name)).token)
    key = Ed25519PrivateKey.generate()
    stub = mesh.gateway.stub

    with pytest.raises(grpc.aio.AioRpcError) as other_name:
        await stub.RegisterInstance(registration_request(key, unique("NEXUS"), region="local"), metadata=token)
    assert other_name.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # A WORKER would be taken for a service replica by discovery: agents cannot register as one.
    worker = registration_request(key, name, region="local")
    worker.instance.instance_type = consensus_pb2.INSTANCE_TYPE_WORKER
    with pytest.raises(grpc.aio.AioRpcError) as as_worker:
        await stub.RegisterInstance(worker, metadata=token)
    assert violated_fields(as_worker.value) == ["instance.instance_type"]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.RegisterInstance(pb.RegisterInstanceRequest(), metadata=token)
    assert violated_fields(missing.value) == ["instance"]

    unbound = bearer((await mesh.issue(f"{namespace}-unbound")).token)
    read_only = bearer((await mesh.issue(f"{namespace}-ro", instance_name=name, scope=Scope.READ_ONLY)).token)
    for credential in (unbound, read_only):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.RegisterInstance(registration_request(key, name, region="local"), metadata=credential)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # The consensus service checks the signature; its refusal reaches the caller with the field named.
    forged = registration_request(key, name, region="local")
    forged.signature = Ed25519PrivateKey.generate().sign(b"something else")
    with pytest.raises(grpc.aio.AioRpcError) as bad_signature:
        await stub.RegisterInstance(forged, metadata=token)
    assert bad_signature.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # Well signed, by the right credential, but the key is not enrolled: the consensus service refuses.
    with pytest.raises(grpc.aio.AioRpcError) as unenrolled:
        await stub.RegisterInstance(registration_request(key, name, region="local"), metadata=token)
    assert unenrolled.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "not enrolled" in (unenrolled.value.details() or "")

    # Nothing above registered the name.
    listed = await mesh.consensus.stub.ListInstances(consensus_pb2.ListInstancesRequest(region="local"))
    assert name not in [instance.instance_name for instance in listed.instances]


async def test_one_agent_cannot_renew_or_end_another_agents_lease(mesh: Mesh) -> None:
    nexus, aria = unique("NEXUS"), unique("ARIA")
    tokens = {name: bearer((await mesh.issue(name.lower(), instance_name=name)).token) for name in (nexus, aria)}
    keys = {name: Ed25519PrivateKey.generate() for name in (nexus, aria)}
    ids = {}
    for name in (nexus, aria):
        await mesh.consensus.enroll(name, keys[name])
        response = await mesh.gateway.stub.RegisterInstance(
            registration_request(keys[name], name, region="local"), metadata=tokens[name]
        )
        ids[name] = response.instance.instance_id
    aria_signer = AgentSigner(keys[aria], ids[aria])
    for method, request in (
        (mesh.gateway.stub.RenewInstanceLease, aria_signer.renew_lease_request()),
        (mesh.gateway.stub.DeregisterInstance, aria_signer.deregister_request()),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await method(request, metadata=tokens[nexus])
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await mesh.gateway.stub.RenewInstanceLease(
            pb.RenewInstanceLeaseRequest(instance_id="not-a-uuid"), metadata=tokens[nexus]
        )
    assert violated_fields(malformed.value) == ["instance_id"]
    state = await mesh.consensus.stub.GetInstance(consensus_pb2.GetInstanceRequest(instance_id=ids[aria]))
    assert state.instance.status == consensus_pb2.INSTANCE_STATUS_ACTIVE


def test_discovery_takes_only_service_replicas_whatever_an_agent_claims() -> None:
    def instance(instance_type: int, endpoint: str) -> consensus_pb2.Instance:
        return consensus_pb2.Instance(
            instance_type=instance_type,
            capabilities=["memory"],
            endpoints=[endpoint],
            region="local",
            status=consensus_pb2.INSTANCE_STATUS_ACTIVE,
        )

    instances = {
        "replica": instance(consensus_pb2.INSTANCE_TYPE_WORKER, "grpc://10.0.0.5:50052"),
        "agent": instance(consensus_pb2.INSTANCE_TYPE_PRIMARY, "grpc://10.6.6.6:50052"),
        "specialist": instance(consensus_pb2.INSTANCE_TYPE_SPECIALIZED, "grpc://10.6.6.7:50052"),
    }
    assert active_replicas(instances, "memory") == {"10.0.0.5:50052": "local"}
