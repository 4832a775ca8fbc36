"""The instance network over gRPC against real PostgreSQL: registration, leases, listing and watching."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.consensus.client import deregister_request, heartbeat_request, register_request
from cerebro.consensus.v1 import consensus_pb2 as pb
from tests.consensus.harness import (
    ConsensusServer,
    consensus_server,
    field_violations,
    next_message,
    register,
)
from tests.support import eventually

# Leases short enough to watch them run out: standby after 0.6 s of silence, offline after 1.5 s.
SHORT_LEASES = {
    "CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": "0.6",
    "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": "1.5",
    "CEREBRO_CONSENSUS_SWEEP_INTERVAL_SECONDS": "0.05",
}


def nexus_request(key: Ed25519PrivateKey, **changes: object) -> pb.RegisterInstanceRequest:
    fields: dict[str, object] = {
        "instance_name": "NEXUS",
        "instance_type": pb.INSTANCE_TYPE_PRIMARY,
        "region": "eu-west-1",
        "capabilities": ["memory", "planning"],
        "endpoints": ["grpc://nexus.local:50051"],
        "voting": True,
    }
    fields.update(changes)
    return register_request(key, **fields)  # type: ignore[arg-type]


def seconds_from_now(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def status_of(server: ConsensusServer, instance_id: str) -> int:
    response = await server.stub.GetInstance(pb.GetInstanceRequest(instance_id=instance_id))
    return response.instance.status


async def test_registration_round_trips_and_a_name_is_bound_to_its_key(consensus: ConsensusServer) -> None:
    key = Ed25519PrivateKey.generate()
    await consensus.enroll("NEXUS", key)
    first = await consensus.stub.RegisterInstance(nexus_request(key))
    instance = first.instance
    assert first.created and first.lease_ttl_seconds == 60
    assert instance.instance_name == "NEXUS" and instance.instance_type == pb.INSTANCE_TYPE_PRIMARY
    assert instance.region == "eu-west-1" and list(instance.capabilities) == ["memory", "planning"]
    assert list(instance.endpoints) == ["grpc://nexus.local:50051"] and instance.voting
    assert instance.public_key == key.public_key().public_bytes_raw()
    assert instance.status == pb.INSTANCE_STATUS_ACTIVE
    assert instance.lease_expire_time.ToDatetime(tzinfo=UTC) > datetime.now(UTC)
    fetched = await consensus.stub.GetInstance(pb.GetInstanceRequest(instance_id=instance.instance_id))
    assert fetched.instance == instance

    # Re-registering with the same key keeps the id and takes the new details.
    renewed_request = nexus_request(key, capabilities=["memory"], region="us-east-1")
    renewed = await consensus.stub.RegisterInstance(renewed_request)
    assert not renewed.created and renewed.instance.instance_id == instance.instance_id
    assert list(renewed.instance.capabilities) == ["memory"] and renewed.instance.region == "us-east-1"
    # The very same request again is an idempotent repeat.
    repeated = await consensus.stub.RegisterInstance(renewed_request)
    assert repeated.instance.instance_id == instance.instance_id and not repeated.created

    # Another key cannot take the name: it is enrolled for this one.
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await consensus.stub.RegisterInstance(nexus_request(Ed25519PrivateKey.generate()))
    assert taken.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # A replay of the older registration is refused once a newer one was accepted.
    with pytest.raises(grpc.aio.AioRpcError) as replay:
        await consensus.stub.RegisterInstance(nexus_request(key, sign_time=seconds_from_now(-30)))
    assert replay.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    after = await consensus.stub.GetInstance(pb.GetInstanceRequest(instance_id=instance.instance_id))
    assert after.instance.region == "us-east-1" and after.instance.public_key == instance.public_key


async def test_registration_needs_proof_of_possession_and_a_fresh_signature(consensus: ConsensusServer) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    await consensus.enroll("NEXUS", key)
    forged = nexus_request(key)
    forged.signature = other.sign(b"anything")
    with pytest.raises(grpc.aio.AioRpcError) as unauthenticated:
        await consensus.stub.RegisterInstance(forged)
    assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Someone else's public key with our own signature proves nothing either.
    borrowed = nexus_request(other)
    borrowed.instance.public_key = key.public_key().public_bytes_raw()
    with pytest.raises(grpc.aio.AioRpcError) as borrowed_key:
        await consensus.stub.RegisterInstance(borrowed)
    assert borrowed_key.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as skewed:
        await consensus.stub.RegisterInstance(nexus_request(key, sign_time=seconds_from_now(3600)))
    assert skewed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    listed = await consensus.stub.ListInstances(pb.ListInstancesRequest())
    assert list(listed.instances) == []


async def test_leases_turn_instances_standby_then_offline_and_heartbeats_revive_them(
    fresh_database_url: str, tmp_path: Path
) -> None:
    async with consensus_server(fresh_database_url, tmp_path, SHORT_LEASES) as server:
        member = await register(server, "ARIA")

        async def has_status(status: int) -> bool:
            return await status_of(server, member.instance_id) == status

        # Heartbeats within the lease keep it active.
        for _ in range(4):
            renewed = await server.stub.Heartbeat(heartbeat_request(member.key, member.instance_id))
            assert renewed.instance.status == pb.INSTANCE_STATUS_ACTIVE and renewed.lease_ttl_seconds == 0.6
            await asyncio.sleep(0.2)
        await eventually(lambda: has_status(pb.INSTANCE_STATUS_STANDBY), timeout=5)
        await server.stub.Heartbeat(heartbeat_request(member.key, member.instance_id))
        assert await has_status(pb.INSTANCE_STATUS_ACTIVE)
        await eventually(lambda: has_status(pb.INSTANCE_STATUS_OFFLINE), timeout=5)
        revived = await server.stub.Heartbeat(heartbeat_request(member.key, member.instance_id))
        assert revived.instance.status == pb.INSTANCE_STATUS_ACTIVE

        with pytest.raises(grpc.aio.AioRpcError) as forged:
            await server.stub.Heartbeat(heartbeat_request(Ed25519PrivateKey.generate(), member.instance_id))
        assert forged.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await server.stub.Heartbeat(heartbeat_request(member.key, "00000000-0000-4000-8000-000000000000"))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

        gone = await server.stub.DeregisterInstance(deregister_request(member.key, member.instance_id))
        assert gone.instance.status == pb.INSTANCE_STATUS_OFFLINE
        with pytest.raises(grpc.aio.AioRpcError) as deregistered:
            await server.stub.Heartbeat(heartbeat_request(member.key, member.instance_id))
        assert deregistered.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        back = await register(server, "ARIA", key=member.key)
        assert back.instance_id == member.instance_id
        assert await has_status(pb.INSTANCE_STATUS_ACTIVE)


async def test_list_instances_filters_and_pages(consensus: ConsensusServer) -> None:
    stub = consensus.stub
    members = [
        await register(consensus, "a-nexus", region="eu", capabilities=["memory", "planning"]),
        await register(consensus, "b-aria", region="us", capabilities=["memory"]),
        await register(consensus, "c-embedder", region="eu", capabilities=["embedding"], voting=False),
        await register(consensus, "d-scout", region="eu", capabilities=["search"]),
        await register(consensus, "e-gone", region="us", capabilities=["memory"]),
    ]
    await stub.DeregisterInstance(deregister_request(members[4].key, members[4].instance_id))

    async def names(**filters: object) -> list[str]:
        response = await stub.ListInstances(pb.ListInstancesRequest(**filters))  # type: ignore[arg-type]
        return [instance.instance_name for instance in response.instances]

    assert await names() == ["a-nexus", "b-aria", "c-embedder", "d-scout", "e-gone"]
    assert await names(status=pb.INSTANCE_STATUS_ACTIVE) == ["a-nexus", "b-aria", "c-embedder", "d-scout"]
    assert await names(status=pb.INSTANCE_STATUS_OFFLINE) == ["e-gone"]
    assert await names(region="eu") == ["a-nexus", "c-embedder", "d-scout"]
    assert await names(capability="memory") == ["a-nexus", "b-aria", "e-gone"]
    assert await names(capability="memory", region="us", status=pb.INSTANCE_STATUS_ACTIVE) == ["b-aria"]

    pages, token = [], ""
    while True:
        page = await stub.ListInstances(pb.ListInstancesRequest(page_size=2, page_token=token, region="eu"))
        pages.append([instance.instance_name for instance in page.instances])
        token = page.next_page_token
        if not token:
            break
    assert pages == [["a-nexus", "c-embedder"], ["d-scout"]]

    first = await stub.ListInstances(pb.ListInstancesRequest(page_size=1, region="eu"))
    for bad in (
        pb.ListInstancesRequest(page_token=first.next_page_token, region="us"),
        pb.ListInstancesRequest(page_token="not-a-token"),
        pb.ListInstancesRequest(page_size=-1),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.ListInstances(bad)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [field for field, _ in field_violations(error.value)] in (["page_token"], ["page_size"])
    # Larger pages than the limit are lowered to it (AIP-158), not refused.
    assert len((await stub.ListInstances(pb.ListInstancesRequest(page_size=1_000_000))).instances) == 5


async def test_watch_instances_streams_existing_then_changes(fresh_database_url: str, tmp_path: Path) -> None:
    # Leases long enough that ARIA's register-then-deregister never lapses in between, even on a busy machine.
    leases = {
        **SHORT_LEASES,
        "CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": "2",
        "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": "3.5",
    }
    async with consensus_server(fresh_database_url, tmp_path, leases) as server:
        existing = await register(server, "NEXUS")
        watch = server.stub.WatchInstances(pb.WatchInstancesRequest(), timeout=30)
        first = await next_message(watch)
        assert first.event_type == pb.INSTANCE_EVENT_TYPE_EXISTING
        assert first.instance.instance_id == existing.instance_id

        newcomer = await register(server, "ARIA")
        await server.stub.DeregisterInstance(deregister_request(newcomer.key, newcomer.instance_id))
        seen: dict[str, list[tuple[int, int]]] = {"NEXUS": [], "ARIA": []}
        while len(seen["NEXUS"]) + len(seen["ARIA"]) < 4:
            message = await next_message(watch)
            seen[message.instance.instance_name].append((message.event_type, message.instance.status))
        # Each event carries the instance as read at delivery, so the last one shows the final state.
        assert [event for event, _ in seen["ARIA"]] == [
            pb.INSTANCE_EVENT_TYPE_REGISTERED,
            pb.INSTANCE_EVENT_TYPE_DEREGISTERED,
        ]
        assert seen["ARIA"][-1][1] == pb.INSTANCE_STATUS_OFFLINE
        # NEXUS stopped heartbeating: its lease runs out (standby), then the longer silence (offline).
        assert [event for event, _ in seen["NEXUS"]] == [pb.INSTANCE_EVENT_TYPE_STATUS_CHANGED] * 2
        assert seen["NEXUS"][-1][1] == pb.INSTANCE_STATUS_OFFLINE
        watch.cancel()
