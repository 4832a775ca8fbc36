"""A registered client keeps its instance's lease alive while it runs, and only while it runs."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cerebro.client import AsyncCerebroClient, ClientSettings
from cerebro.consensus.v1 import consensus_pb2
from cerebro.embedded import EmbeddedStack
from cerebro.runtime.registration import load_or_create_identity_key
from tests.gateway.harness import Mesh, running_mesh, temporary_database

LEASE_SECONDS = 1.5
SHORT_LEASES = {
    "CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": str(LEASE_SECONDS),
    "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": "60",
    "CEREBRO_CONSENSUS_SWEEP_INTERVAL_SECONDS": "0.1",
}


@pytest.fixture(scope="module")
async def short_lease_mesh(embedded_stack: EmbeddedStack) -> AsyncIterator[Mesh]:
    data_dir = Path(tempfile.mkdtemp(prefix="cerebro-lease-test-"))
    try:
        async with (
            temporary_database(embedded_stack) as database_url,
            running_mesh(database_url, data_dir, consensus_env=SHORT_LEASES) as running,
        ):
            yield running
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def status(mesh: Mesh, instance_id: str) -> int:
    response = await mesh.consensus.stub.GetInstance(consensus_pb2.GetInstanceRequest(instance_id=instance_id))
    return response.instance.status


async def wait_for_status(mesh: Mesh, instance_id: str, wanted: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while await status(mesh, instance_id) != wanted:
        assert time.monotonic() < deadline, f"instance never became {consensus_pb2.InstanceStatus.Name(wanted)}"
        await asyncio.sleep(0.1)


async def test_the_lease_is_renewed_until_the_client_closes(short_lease_mesh: Mesh) -> None:
    mesh = short_lease_mesh
    name = f"NEXUS-{uuid.uuid4().hex[:8]}"
    token = (await mesh.issue(name.lower(), instance_name=name)).token
    client = AsyncCerebroClient(ClientSettings(target=mesh.gateway.target, api_key=token))
    try:
        await mesh.consensus.enroll(name, load_or_create_identity_key(mesh.data_dir / f"{name}.pem"))
        joined = await client.register_instance(name, mesh.data_dir / f"{name}.pem")
        instance_id = joined.instance.instance_id
        assert joined.lease_ttl_seconds == LEASE_SECONDS
        # Three leases long: without renewals the instance would have gone standby twice over.
        for _ in range(int(3 * LEASE_SECONDS / 0.1)):
            assert await status(mesh, instance_id) == consensus_pb2.INSTANCE_STATUS_ACTIVE
            await asyncio.sleep(0.1)
    finally:
        await client.close()
    await wait_for_status(mesh, instance_id, consensus_pb2.INSTANCE_STATUS_STANDBY, 3 * LEASE_SECONDS)


async def test_without_keep_lease_the_lease_runs_out(short_lease_mesh: Mesh) -> None:
    mesh = short_lease_mesh
    name = f"ARIA-{uuid.uuid4().hex[:8]}"
    token = (await mesh.issue(name.lower(), instance_name=name)).token
    async with AsyncCerebroClient(ClientSettings(target=mesh.gateway.target, api_key=token)) as client:
        await mesh.consensus.enroll(name, load_or_create_identity_key(mesh.data_dir / f"{name}.pem"))
        joined = await client.register_instance(name, mesh.data_dir / f"{name}.pem", keep_lease=False)
        await wait_for_status(
            mesh, joined.instance.instance_id, consensus_pb2.INSTANCE_STATUS_STANDBY, 3 * LEASE_SECONDS
        )
        renewed = await client.renew_instance_lease()  # a lapsed lease is renewed by hand
        assert renewed.instance.status == consensus_pb2.INSTANCE_STATUS_ACTIVE
        left = await client.deregister_instance()
        assert left.instance.status == consensus_pb2.INSTANCE_STATUS_OFFLINE
