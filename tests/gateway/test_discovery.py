"""Discovery and failover: the gateway finds memory replicas in the registry and survives losing one.

Discovery runs only under mutual TLS (a registered replica must prove its capability with its
certificate), so these meshes run with certificates of a test mesh CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import gateway_pb2_grpc
from cerebro.runtime.roles import Role
from services.gateway import replicas
from services.memory.db import migrate as migrate_memory
from tests.consensus.harness import ConsensusServer, consensus_server
from tests.gateway.harness import Metadata, bearer, gateway_server, issue_key
from tests.memory.embedder_double import EmbedderDouble
from tests.memory.helpers import running_memory_service
from tests.mesh_identity import MeshCertificates
from tests.support import free_port
from tests.tcp_proxy import TcpProxy

UNUSED_TARGET = "127.0.0.1:9"  # nothing listens there: only discovered replicas can answer
WORKERS = 8


def registering(authority: MeshCertificates, consensus_target: str, name: str, data_dir: Path) -> dict[str, str]:
    """Settings of a memory replica that registers in the instance network like a deployed one."""
    return {
        "CEREBRO_REGISTER": "true",
        "CEREBRO_CONSENSUS_TARGET": consensus_target,
        "CEREBRO_INSTANCE_NAME": name,
        "CEREBRO_DATA_DIR": str(data_dir),
        "CEREBRO_SHUTDOWN_GRACE_SECONDS": "5",
        **authority.environ(Role.MEMORY),
    }


def gateway_environ(authority: MeshCertificates) -> dict[str, str]:
    """A gateway that discovers (with its mesh certificate) and serves its agents plaintext on loopback."""
    return {
        "CEREBRO_GATEWAY_DISCOVERY": "true",
        "CEREBRO_GATEWAY_SERVE_TLS": "false",
        **authority.environ(Role.GATEWAY),
    }


@pytest.fixture
def authority(tmp_path: Path) -> MeshCertificates:
    return MeshCertificates(tmp_path / "mesh-ca")


@pytest.fixture
async def embedder(authority: MeshCertificates) -> AsyncIterator[EmbedderDouble]:
    double = EmbedderDouble()
    await double.start(authority.tls(Role.EMBEDDER))
    yield double
    await double.stop()


async def wait_for_memory_replicas(stub: gateway_pb2_grpc.AgentGatewayStub, count: int) -> None:
    """Until the gateway's pool holds ``count`` memory replicas (GetHealth reports them)."""
    for _ in range(300):
        health = await stub.GetHealth(pb.GetHealthRequest())
        (memory,) = [component for component in health.components if component.name == "memory"]
        if memory.replicas == count:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the gateway never saw {count} memory replicas")


async def call_until(
    stop: asyncio.Event, stub: gateway_pb2_grpc.AgentGatewayStub, token: Metadata, worker: int
) -> list[grpc.StatusCode]:
    """Recalls (odd workers) or Remembers with a request id (even workers): both idempotent."""
    outcomes = []
    while not stop.is_set():
        try:
            if worker % 2:
                await stub.Recall(pb.RecallRequest(query="failover"), metadata=token, timeout=10)
            else:
                request = pb.RememberRequest(request_id=str(uuid.uuid4()), content="still here")
                await stub.Remember(request, metadata=token, timeout=10)
            outcomes.append(grpc.StatusCode.OK)
        except grpc.aio.AioRpcError as error:
            outcomes.append(error.code())
    return outcomes


async def test_stopping_a_memory_replica_fails_no_retryable_call(
    fresh_database_url: str, tmp_path: Path, embedder: EmbedderDouble, authority: MeshCertificates
) -> None:
    await migrate_memory(fresh_database_url)
    async with contextlib.AsyncExitStack() as stack:
        consensus = await stack.enter_async_context(
            consensus_server(
                fresh_database_url,
                tmp_path / "consensus",
                authority.environ(Role.CONSENSUS),
                client_tls=authority.tls(Role.OPERATOR),
            )
        )
        await stack.enter_async_context(
            running_memory_service(
                fresh_database_url,
                None,
                embedder.target,
                registering(authority, consensus.target, "memory-b", tmp_path / "b"),
            )
        )
        gateway = await stack.enter_async_context(
            gateway_server(
                fresh_database_url,
                tmp_path / "gateway",
                memory_target=UNUSED_TARGET,
                consensus_target=consensus.target,
                embedder_target=embedder.target,
                env=gateway_environ(authority),
            )
        )
        replica_a = contextlib.AsyncExitStack()
        await replica_a.enter_async_context(
            running_memory_service(
                fresh_database_url,
                None,
                embedder.target,
                registering(authority, consensus.target, "memory-a", tmp_path / "a"),
            )
        )
        await wait_for_memory_replicas(gateway.stub, 2)
        namespace = f"agent-{uuid.uuid4().hex[:8]}"
        token = bearer((await issue_key(fresh_database_url, namespace, rate_per_second=1e5, burst=100_000)).token)
        await gateway.stub.Remember(pb.RememberRequest(content="failover keeps recall alive"), metadata=token)

        stop = asyncio.Event()
        workers = [asyncio.create_task(call_until(stop, gateway.stub, token, worker)) for worker in range(WORKERS)]
        await asyncio.sleep(1.0)
        await replica_a.aclose()  # memory-a drains, deregisters and stops while the calls go on
        await wait_for_memory_replicas(gateway.stub, 1)
        await asyncio.sleep(1.0)
        stop.set()
        outcomes = [code for results in await asyncio.gather(*workers) for code in results]

    failures = [code for code in outcomes if code != grpc.StatusCode.OK]
    assert len(outcomes) > WORKERS * 10
    assert failures == [], f"{len(failures)} of {len(outcomes)} calls failed: {set(failures)}"


async def test_without_a_reachable_registry_the_static_target_serves(
    fresh_database_url: str, tmp_path: Path, embedder: EmbedderDouble, authority: MeshCertificates
) -> None:
    await migrate_memory(fresh_database_url)
    memory_environ = {"CEREBRO_REGISTER": "false", **authority.environ(Role.MEMORY)}
    async with (
        running_memory_service(fresh_database_url, None, embedder.target, memory_environ) as memory,
        gateway_server(
            fresh_database_url,
            tmp_path / "gateway",
            memory_target=f"127.0.0.1:{memory.host.bound_port}",
            consensus_target=UNUSED_TARGET,
            embedder_target=embedder.target,
            env=gateway_environ(authority),
        ) as gateway,
    ):
        token = bearer((await issue_key(fresh_database_url, f"agent-{uuid.uuid4().hex[:8]}")).token)
        await gateway.stub.Remember(pb.RememberRequest(content="no registry needed"), metadata=token)
        found = await gateway.stub.Recall(pb.RecallRequest(query="registry"), metadata=token)
        assert [hit.episode.content for hit in found.hits] == ["no registry needed"]
        # Mesh calls need the consensus service: they fail as retryable, not as internal errors.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await gateway.stub.ListConnectedInstances(pb.ListConnectedInstancesRequest(), metadata=token, timeout=3)
        assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def wait_for_component(
    stub: gateway_pb2_grpc.AgentGatewayStub, name: str, replicas: int, serving: int, seconds: float = 20.0
) -> None:
    """Until the gateway's pool for ``name`` holds ``replicas`` replicas of which ``serving`` serve."""
    deadline = asyncio.get_running_loop().time() + seconds
    seen = None
    while asyncio.get_running_loop().time() < deadline:
        health = await stub.GetHealth(pb.GetHealthRequest())
        (component,) = [component for component in health.components if component.name == name]
        seen = (component.replicas, component.serving_replicas)
        if seen == (replicas, serving):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the gateway's {name} pool never had {replicas} replicas ({serving} serving); last {seen}")


async def test_discovery_keeps_watching_across_channel_swaps_restarts_and_lapses(
    fresh_database_url: str,
    tmp_path: Path,
    embedder: EmbedderDouble,
    authority: MeshCertificates,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The consensus channel that discovery swaps away closes after this grace: the moment the old watch died.
    monkeypatch.setattr(replicas, "CLOSE_GRACE_SECONDS", 0.3)
    caplog.set_level(logging.INFO, logger="services.gateway")
    await migrate_memory(fresh_database_url)
    leases = {"CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": "1", "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": "2"}
    port_a = free_port()
    target_a = f"127.0.0.1:{port_a}"

    def consensus_replica(name: str, port: int = 0) -> contextlib.AbstractAsyncContextManager[ConsensusServer]:
        # Each replica registers itself (through replica a), as deployed replicas do: discovery finds both.
        env = {
            **leases,
            **authority.environ(Role.CONSENSUS),
            "CEREBRO_REGISTER": "true",
            "CEREBRO_CONSENSUS_TARGET": target_a,
            "CEREBRO_INSTANCE_NAME": name,
        }
        return consensus_server(
            fresh_database_url, tmp_path / name, env, port=port, client_tls=authority.tls(Role.OPERATOR)
        )

    async with contextlib.AsyncExitStack() as stack:
        replica_a = contextlib.AsyncExitStack()
        await replica_a.enter_async_context(consensus_replica("consensus-a", port_a))
        gateway = await stack.enter_async_context(
            gateway_server(
                fresh_database_url,
                tmp_path / "gateway",
                memory_target=UNUSED_TARGET,
                consensus_target=target_a,
                embedder_target=embedder.target,
                env=gateway_environ(authority),
            )
        )
        # The static target of consensus is swapped for the two discovered replicas; the channel the first
        # watch ran on closes 0.3 s later (before the fix, discovery ended there, silently, for good).
        replica_b = contextlib.AsyncExitStack()
        await replica_b.enter_async_context(consensus_replica("consensus-b"))
        await wait_for_component(gateway.stub, "consensus", replicas=2, serving=2)
        await asyncio.sleep(1.0)

        # A replica that starts after the swap joins, and serves.
        late = contextlib.AsyncExitStack()
        await late.enter_async_context(
            running_memory_service(
                fresh_database_url,
                None,
                embedder.target,
                registering(authority, target_a, "memory-late", tmp_path / "m1"),
            )
        )
        await wait_for_component(gateway.stub, "memory", replicas=1, serving=1)
        token = bearer((await issue_key(fresh_database_url, f"agent-{uuid.uuid4().hex[:8]}")).token)
        await gateway.stub.Remember(
            pb.RememberRequest(content="found by a watch that outlived its channel"), metadata=token
        )

        # A consensus replica stops (its watchers' streams end with it): the watch goes on on the other one.
        await replica_b.aclose()
        await wait_for_component(gateway.stub, "consensus", replicas=1, serving=1)
        # And the last one restarts: the watch waits for it and goes on.
        await replica_a.aclose()
        await wait_for_component(gateway.stub, "consensus", replicas=1, serving=0)
        await stack.enter_async_context(consensus_replica("consensus-a", port_a))
        await wait_for_component(gateway.stub, "consensus", replicas=1, serving=1)
        # A replica whose lease lapses (its heartbeats cut, the process still running) leaves the pool.
        link = TcpProxy("127.0.0.1", port_a)
        await link.start()
        await stack.enter_async_context(
            running_memory_service(
                fresh_database_url,
                None,
                embedder.target,
                registering(authority, f"127.0.0.1:{link.port}", "memory-lapsing", tmp_path / "m2"),
            )
        )
        await wait_for_component(gateway.stub, "memory", replicas=2, serving=2)
        await link.stop()
        await wait_for_component(gateway.stub, "memory", replicas=1, serving=1)
        # And one that deregisters leaves at once; with none left, the unreachable static target is all there is.
        await late.aclose()
        await wait_for_component(gateway.stub, "memory", replicas=1, serving=0)

    ended = [record.getMessage() for record in caplog.records if "instance registry watch ended" in record.getMessage()]
    assert any(
        "was closed" in message or "UNAVAILABLE" in message or "ended the stream" in message for message in ended
    ), ended
