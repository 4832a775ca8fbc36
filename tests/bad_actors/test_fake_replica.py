"""A fake memory replica never receives agents' traffic (issue #12, finding 3).

The report registered a WORKER with capability `memory` and an endpoint of its choosing; it received
about half of all memory calls (other agents' episodes and queries), and kept receiving them while its
health said NOT_SERVING. Here:

- under `cerebro up`, consensus refuses such a registration unless the caller's certificate proves the
  memory role; and a fake written straight into the registry (as only someone holding the database's owner
  password could) joins the gateway's pool but never gets a call: it cannot prove the memory role in the
  TLS handshake, so it is never SERVING;
- in a mesh of its own, even a replica with a genuine memory certificate gets no call while its health
  says NOT_SERVING, and gets calls once it says SERVING (the gate is its health, nothing else).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from cerebro.client import CerebroClient, ClientSettings
from cerebro.consensus.client import register_request
from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.gateway.v1 import gateway_pb2 as gateway_pb
from cerebro.gateway.v1 import gateway_pb2_grpc
from cerebro.memory.v1 import memory_service_pb2, memory_service_pb2_grpc, namespaces_pb2
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.mesh_ca import MeshAuthority
from cerebro.runtime.roles import Role
from cerebro.runtime.server import server_credentials
from services.consensus.events import INSTANCES_CHANNEL, notify_change
from services.memory.db import migrate as migrate_memory
from tests.bad_actors.conftest import Up
from tests.consensus.harness import consensus_server
from tests.gateway.harness import bearer, gateway_server, issue_key
from tests.memory.embedder_double import EmbedderDouble
from tests.memory.helpers import running_memory_service
from tests.mesh_identity import MeshCertificates

CALL_SECONDS = 10
AGENT_CALLS = 20
MEMORY_SERVICE = "cerebro.memory.v1.MemoryService"


@dataclass
class Recorder(grpc.GenericRpcHandler):
    """Answers nothing and records every RPC that reaches it (health watches included)."""

    methods: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> None:
        with self._lock:
            self.methods.append(handler_call_details.method)


@contextlib.contextmanager
def fake_server(tls: TlsSettings | None) -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[recorder])
    address = "127.0.0.1:0"
    port = (
        server.add_insecure_port(address) if tls is None else server.add_secure_port(address, server_credentials(tls))
    )
    server.start()
    try:
        yield recorder, port
    finally:
        server.stop(grace=None)


def worker_request(name: str, capabilities: list[str], endpoint: str) -> consensus_pb2.RegisterInstanceRequest:
    return register_request(
        Ed25519PrivateKey.generate(),
        instance_name=name,
        instance_type=consensus_pb2.INSTANCE_TYPE_WORKER,
        region="local",
        capabilities=capabilities,
        endpoints=[endpoint],
    )


@pytest.mark.e2e
def test_consensus_admits_a_memory_worker_only_from_a_memory_certificate(up: Up) -> None:
    request = worker_request(f"memory@fake-{uuid.uuid4().hex[:6]}", ["memory"], "grpc://127.0.0.1:1")
    with up.channel(Role.CONSENSUS, None) as channel, pytest.raises(grpc.RpcError) as plaintext:
        consensus_pb2_grpc.ConsensusServiceStub(channel).RegisterInstance(request, timeout=CALL_SECONDS)
    assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    # An operator's tool, and the certificates of every other service (a compromised embedder, say), are refused.
    for role in (Role.OPERATOR, Role.EMBEDDER, Role.GATEWAY, Role.CONSENSUS, Role.EMBEDDINGS_WORKER):
        with up.channel(Role.CONSENSUS, role) as channel, pytest.raises(grpc.RpcError) as refused:
            consensus_pb2_grpc.ConsensusServiceStub(channel).RegisterInstance(request, timeout=CALL_SECONDS)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, role  # type: ignore[attr-defined]
    # Through the gateway an agent cannot register a WORKER at all.
    token = up.issue_key(f"fake-{uuid.uuid4().hex[:6]}", request.instance.instance_name)
    gateway_request = gateway_pb.RegisterInstanceRequest(
        instance=request.instance, sign_time=request.sign_time, signature=request.signature
    )
    with grpc.insecure_channel(up.gateway_target) as channel, pytest.raises(grpc.RpcError) as through_gateway:
        gateway_pb2_grpc.AgentGatewayStub(channel).RegisterInstance(
            gateway_request, metadata=bearer(token), timeout=CALL_SECONDS
        )
    assert through_gateway.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


async def _write_registration(database_url: str, name: str, endpoint: str, *, remove: bool = False) -> None:
    """Put a WORKER with capability memory straight into the registry (or take it out), and announce it."""
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            if remove:
                instance_id = await connection.fetchval(
                    "UPDATE instance_network SET deregistered = true, announced_status = 'offline' "
                    "WHERE instance_name = $1 RETURNING instance_id",
                    name,
                )
                await notify_change(connection, INSTANCES_CHANNEL, str(instance_id), "deregistered")
                return
            instance_id = uuid.uuid4()
            await connection.execute(
                """
                INSERT INTO instance_network (
                    instance_id, instance_name, instance_type, location, capabilities, endpoints, public_key, voting,
                    last_sign_time, last_signature, last_sync, lease_expire_time, offline_time, announced_status)
                VALUES ($1, $2, 'worker', 'local', ARRAY['memory'], ARRAY[$3], $4, false, now(), $5, now(),
                        now() + interval '1 hour', now() + interval '2 hours', 'active')
                """,
                instance_id,
                name,
                endpoint,
                bytes(32),
                bytes(64),
            )
            await notify_change(connection, INSTANCES_CHANNEL, str(instance_id), "registered")
    finally:
        await connection.close()


def _memory_pool(up: Up) -> tuple[int, int]:
    with grpc.insecure_channel(up.gateway_target) as channel:
        health = gateway_pb2_grpc.AgentGatewayStub(channel).GetHealth(
            gateway_pb.GetHealthRequest(), timeout=CALL_SECONDS
        )
    (memory,) = [component for component in health.components if component.name == "memory"]
    return memory.replicas, memory.serving_replicas


@pytest.mark.e2e
def test_a_fake_memory_replica_in_the_registry_never_receives_traffic(up: Up, tmp_path: Path) -> None:
    rogue = MeshAuthority.load_or_create(tmp_path / "rogue", "Cerebro mesh CA").issue(Role.MEMORY)
    before = _memory_pool(up)
    with (
        fake_server(None) as (plaintext, plaintext_port),
        fake_server(rogue) as (look_alike, look_alike_port),
        # A genuine mesh certificate, but the embedder's (stolen from a compromised embedder host).
        fake_server(up.certificate(Role.EMBEDDER)) as (wrong_role, wrong_role_port),
    ):
        fakes = {
            f"memory@fake-{kind}-{uuid.uuid4().hex[:6]}": port
            for kind, port in (
                ("plaintext", plaintext_port),
                ("look-alike", look_alike_port),
                ("wrong-role", wrong_role_port),
            )
        }
        for name, port in fakes.items():
            asyncio.run(_write_registration(up.database_url, name, f"grpc://127.0.0.1:{port}"))
        try:
            # The gateway's discovery takes every one of them into its memory pool, and none is serving.
            expected = (before[0] + len(fakes), before[1])
            for _ in range(200):
                if _memory_pool(up) == expected:
                    break
                time.sleep(0.1)
            assert _memory_pool(up) == expected

            token = up.issue_key(f"victim-{uuid.uuid4().hex[:6]}", f"VICTIM-{uuid.uuid4().hex[:6]}")
            with CerebroClient(ClientSettings(target=up.gateway_target, api_key=token)) as client:
                for index in range(AGENT_CALLS):
                    client.remember(f"a private thought, number {index}", timeout=CALL_SECONDS)
                    client.recall("private thought", timeout=CALL_SECONDS)
                recalled = client.recall("private thought", top_k=50, timeout=CALL_SECONDS)
            assert len(recalled.hits) == AGENT_CALLS  # every write reached the real memory replica
        finally:
            for name in fakes:
                asyncio.run(_write_registration(up.database_url, name, "", remove=True))
    assert (plaintext.methods, look_alike.methods, wrong_role.methods) == ([], [], [])


class RecordingMemory(memory_service_pb2_grpc.MemoryServiceServicer):
    """A memory replica an attacker runs with a genuine memory certificate: it records what reaches it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def CreateNamespace(
        self, request: memory_service_pb2.CreateNamespaceRequest, context: grpc.aio.ServicerContext
    ) -> memory_service_pb2.CreateNamespaceResponse:
        self.calls.append("CreateNamespace")
        return memory_service_pb2.CreateNamespaceResponse(
            namespace=namespaces_pb2.Namespace(name=request.namespace.name)
        )

    async def SearchEpisodes(
        self, request: memory_service_pb2.SearchEpisodesRequest, context: grpc.aio.ServicerContext
    ) -> memory_service_pb2.SearchEpisodesResponse:
        self.calls.append(f"SearchEpisodes: {request.query}")
        return memory_service_pb2.SearchEpisodesResponse()


async def test_a_replica_that_is_not_serving_gets_no_calls_even_with_a_memory_certificate(
    fresh_database_url: str, tmp_path: Path
) -> None:
    authority = MeshCertificates(tmp_path / "mesh-ca")
    await migrate_memory(fresh_database_url)
    embedder = EmbedderDouble()
    await embedder.start(authority.tls(Role.EMBEDDER))
    fake = RecordingMemory()
    health = HealthServicer()
    await health.set(MEMORY_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
    server = grpc.aio.server()
    memory_service_pb2_grpc.add_MemoryServiceServicer_to_server(fake, server)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    fake_port = server.add_secure_port("127.0.0.1:0", server_credentials(authority.tls(Role.MEMORY, "stolen")))
    await server.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            consensus = await stack.enter_async_context(
                consensus_server(
                    fresh_database_url,
                    tmp_path / "consensus",
                    authority.environ(Role.CONSENSUS),
                    client_tls=authority.tls(Role.OPERATOR),
                )
            )
            # The real replica registers as deployed replicas do.
            await stack.enter_async_context(
                running_memory_service(
                    fresh_database_url,
                    None,
                    embedder.target,
                    {
                        "CEREBRO_REGISTER": "true",
                        "CEREBRO_CONSENSUS_TARGET": consensus.target,
                        "CEREBRO_INSTANCE_NAME": "memory@real",
                        "CEREBRO_DATA_DIR": str(tmp_path / "memory"),
                        **authority.environ(Role.MEMORY),
                    },
                )
            )
            gateway = await stack.enter_async_context(
                gateway_server(
                    fresh_database_url,
                    tmp_path / "gateway",
                    memory_target="127.0.0.1:9",
                    consensus_target=consensus.target,
                    embedder_target=embedder.target,
                    env={
                        "CEREBRO_GATEWAY_DISCOVERY": "true",
                        "CEREBRO_GATEWAY_SERVE_TLS": "false",
                        **authority.environ(Role.GATEWAY),
                    },
                )
            )
            # The attacker holds a memory certificate, so consensus lets it register as a memory replica.
            channel = authority.channel(consensus.target, Role.CONSENSUS, client_role=Role.MEMORY)
            await stack.enter_async_context(channel)
            await consensus_pb2_grpc.ConsensusServiceStub(channel).RegisterInstance(
                worker_request("memory@attacker", ["memory"], f"grpc://127.0.0.1:{fake_port}")
            )
            await wait_for_memory_pool(gateway.stub, replicas=2, serving=1)

            token = bearer((await issue_key(fresh_database_url, f"agent-{uuid.uuid4().hex[:8]}")).token)
            for index in range(AGENT_CALLS):
                await gateway.stub.Remember(gateway_pb.RememberRequest(content=f"secret {index}"), metadata=token)
                await gateway.stub.Recall(gateway_pb.RecallRequest(query="secrets"), metadata=token)
            assert fake.calls == []

            # Its health says SERVING: now (and only now) it gets calls. The gate is its health.
            await health.set(MEMORY_SERVICE, health_pb2.HealthCheckResponse.SERVING)
            await wait_for_memory_pool(gateway.stub, replicas=2, serving=2)
            for _ in range(10):
                await gateway.stub.Recall(gateway_pb.RecallRequest(query="secrets"), metadata=token)
            assert "SearchEpisodes: secrets" in fake.calls
    finally:
        await server.stop(grace=None)
        await embedder.stop()


async def wait_for_memory_pool(stub: gateway_pb2_grpc.AgentGatewayStub, *, replicas: int, serving: int) -> None:
    seen = None
    for _ in range(400):
        health = await stub.GetHealth(gateway_pb.GetHealthRequest())
        (memory,) = [component for component in health.components if component.name == "memory"]
        seen = (memory.replicas, memory.serving_replicas)
        if seen == (replicas, serving):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the gateway's memory pool never had {replicas} replicas ({serving} serving); last {seen}")
