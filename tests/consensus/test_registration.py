"""cerebro.runtime.registration against a real consensus server: register, heartbeat, deregister, and
keep trying while the consensus service is down."""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from cerebro.consensus.client import deregister_request
from cerebro.consensus.keys import load_or_create_identity_key
from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.runtime.config import ServiceSettings
from cerebro.runtime.registration import identity_key_path, keep_registered
from tests.consensus.harness import ConsensusServer, consensus_server
from tests.support import eventually, free_port, loopback_settings

SHORT_LEASES = {
    "CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": "0.6",
    "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": "1.5",
    "CEREBRO_CONSENSUS_SWEEP_INTERVAL_SECONDS": "0.05",
}
NAME = "memory@test-host"
ENDPOINT = "grpc://127.0.0.1:50052"


def memory_settings(data_dir: Path, consensus_target: str) -> ServiceSettings:
    return loopback_settings(
        "memory",
        data_dir,
        {"CEREBRO_CONSENSUS_TARGET": consensus_target, "CEREBRO_INSTANCE_NAME": NAME, "CEREBRO_REGION": "eu"},
    )


@contextlib.asynccontextmanager
async def registered_in_background(settings: ServiceSettings) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(keep_registered(settings, ["memory", "search"], ENDPOINT))
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def find(server: ConsensusServer) -> pb.Instance | None:
    response = await server.stub.ListInstances(pb.ListInstancesRequest())
    return next((instance for instance in response.instances if instance.instance_name == NAME), None)


async def has_status(server: ConsensusServer, status: int) -> bool:
    try:
        instance = await find(server)
    except grpc.aio.AioRpcError as error:
        # gRPC shares connections between channels to one address: right after the server comes up,
        # ours may still be waiting out the reconnect backoff of the registration's attempts.
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        return False
    return instance is not None and instance.status == status


async def test_registers_heartbeats_and_deregisters_on_cancel(fresh_database_url: str, tmp_path: Path) -> None:
    leases = {
        **SHORT_LEASES,
        "CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": "1.5",
        "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": "5",
    }
    async with consensus_server(fresh_database_url, tmp_path / "consensus", leases) as server:
        settings = memory_settings(tmp_path / "memory", server.target)
        async with registered_in_background(settings):
            await eventually(lambda: has_status(server, pb.INSTANCE_STATUS_ACTIVE))
            first = await find(server)
            # Over two lease lengths later it is still active: heartbeats (every 0.5 s) renewed the lease.
            await asyncio.sleep(3.5)
            instance = await find(server)
            assert first is not None and instance is not None and instance.status == pb.INSTANCE_STATUS_ACTIVE
            renewed_by = instance.lease_expire_time.ToDatetime() - first.lease_expire_time.ToDatetime()
            assert renewed_by.total_seconds() >= 3
            assert instance.instance_type == pb.INSTANCE_TYPE_WORKER and not instance.voting
            assert list(instance.capabilities) == ["memory", "search"] and list(instance.endpoints) == [ENDPOINT]
            assert instance.region == "eu"
        # Cancelled (the process shuts down): deregistered at once, not after the lease runs out.
        gone = await find(server)
        assert gone is not None and gone.status == pb.INSTANCE_STATUS_OFFLINE

        key_file = identity_key_path(settings.data_dir, NAME)
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        # A restart keeps the identity: the same key, so the same instance id.
        async with registered_in_background(settings):
            await eventually(lambda: has_status(server, pb.INSTANCE_STATUS_ACTIVE))
            again = await find(server)
            assert again is not None and again.instance_id == gone.instance_id


async def test_registers_again_when_the_service_forgot_the_registration(
    fresh_database_url: str, tmp_path: Path
) -> None:
    async with consensus_server(fresh_database_url, tmp_path / "consensus", SHORT_LEASES) as server:
        settings = memory_settings(tmp_path / "memory", server.target)
        async with registered_in_background(settings):
            await eventually(lambda: has_status(server, pb.INSTANCE_STATUS_ACTIVE))
            instance = await find(server)
            assert instance is not None
            # Someone holding the key deregisters it; the next heartbeat is refused and it registers again.
            key = load_or_create_identity_key(identity_key_path(settings.data_dir, NAME))
            await server.stub.DeregisterInstance(deregister_request(key, instance.instance_id))
            assert await has_status(server, pb.INSTANCE_STATUS_OFFLINE)
            await eventually(lambda: has_status(server, pb.INSTANCE_STATUS_ACTIVE), timeout=10)


async def test_keeps_retrying_while_consensus_is_down_and_registers_once_it_is_up(
    fresh_database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = memory_settings(tmp_path / "memory", f"127.0.0.1:{port}")
    async with registered_in_background(settings) as task:
        await asyncio.sleep(2.0)
        assert not task.done()  # nothing listens yet: it neither fails nor gives up
        async with consensus_server(fresh_database_url, tmp_path / "consensus", SHORT_LEASES, port=port) as server:
            await eventually(lambda: has_status(server, pb.INSTANCE_STATUS_ACTIVE), timeout=15)


async def test_cancelling_while_consensus_is_down_returns_promptly(tmp_path: Path) -> None:
    settings = memory_settings(tmp_path, f"127.0.0.1:{free_port()}")
    task = asyncio.create_task(keep_registered(settings, [], ENDPOINT))
    await asyncio.sleep(0.5)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert done and task.cancelled()


async def test_an_unreadable_identity_key_leaves_the_process_running_unregistered(tmp_path: Path) -> None:
    settings = memory_settings(tmp_path, f"127.0.0.1:{free_port()}")
    key_file = identity_key_path(settings.data_dir, NAME)
    key_file.parent.mkdir(parents=True)
    key_file.write_text("not a key")
    # It returns (logging why) instead of raising into the service that runs it.
    await asyncio.wait_for(keep_registered(settings, [], ENDPOINT), timeout=5)
