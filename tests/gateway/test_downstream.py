"""Calls to the memory service, seen from a recording memory server: deadlines and retries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from cerebro.memory.v1 import memory_service_pb2_grpc, namespaces_pb2
from tests.gateway.harness import GatewayServer, bearer, gateway_server, issue_key

DEFAULT_TIMEOUT_SECONDS = 7.0
ROUNDING = 0.1


class RecordingMemory(memory_service_pb2_grpc.MemoryServiceServicer):
    """Answers a few memory methods, recording each call's deadline; fails the first calls on request."""

    def __init__(self) -> None:
        self.remaining: dict[str, list[float]] = {}
        self.fail_next: dict[str, int] = {}

    async def _record(self, method: str, context: grpc.aio.ServicerContext) -> None:
        self.remaining.setdefault(method, []).append(context.time_remaining())
        if self.fail_next.get(method, 0) > 0:
            self.fail_next[method] -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "recording memory is 'down'")

    async def CreateNamespace(
        self, request: memory_pb.CreateNamespaceRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb.CreateNamespaceResponse:
        return memory_pb.CreateNamespaceResponse(namespace=namespaces_pb2.Namespace(name=request.namespace.name))

    async def SearchEpisodes(
        self, request: memory_pb.SearchEpisodesRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb.SearchEpisodesResponse:
        await self._record("SearchEpisodes", context)
        return memory_pb.SearchEpisodesResponse()

    async def UpdateConsciousnessState(
        self, request: memory_pb.UpdateConsciousnessStateRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb.UpdateConsciousnessStateResponse:
        await self._record("UpdateConsciousnessState", context)
        return memory_pb.UpdateConsciousnessStateResponse()


@pytest.fixture
async def recording() -> AsyncIterator[tuple[RecordingMemory, str]]:
    memory = RecordingMemory()
    server = grpc.aio.server()
    memory_service_pb2_grpc.add_MemoryServiceServicer_to_server(memory, server)
    # The gateway sends calls only to a replica that says it serves.
    health = HealthServicer()
    await health.set("cerebro.memory.v1.MemoryService", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield memory, f"127.0.0.1:{port}"
    await server.stop(grace=None)


@pytest.fixture
async def gateway(
    recording: tuple[RecordingMemory, str], gateway_database_url: str, tmp_path: Path
) -> AsyncIterator[GatewayServer]:
    async with gateway_server(
        gateway_database_url,
        tmp_path,
        memory_target=recording[1],
        consensus_target="127.0.0.1:9",
        embedder_target="127.0.0.1:9",
        env={"CEREBRO_GATEWAY_DOWNSTREAM_TIMEOUT_SECONDS": str(DEFAULT_TIMEOUT_SECONDS)},
    ) as server:
        yield server


async def test_the_callers_deadline_bounds_the_downstream_call(
    recording: tuple[RecordingMemory, str], gateway: GatewayServer, gateway_database_url: str
) -> None:
    memory, _ = recording
    token = bearer((await issue_key(gateway_database_url, f"agent-{uuid.uuid4().hex[:8]}")).token)
    await gateway.stub.Recall(pb.RecallRequest(query="q"), metadata=token, timeout=3.0)
    await gateway.stub.Recall(pb.RecallRequest(query="q"), metadata=token)
    with_deadline, without = memory.remaining["SearchEpisodes"]
    # gRPC carries deadlines with a little rounding: allow it, far below the difference that matters.
    assert 2.0 < with_deadline <= 3.0 + ROUNDING
    assert DEFAULT_TIMEOUT_SECONDS - 1.0 < without <= DEFAULT_TIMEOUT_SECONDS + ROUNDING


async def test_only_idempotent_calls_are_retried(
    recording: tuple[RecordingMemory, str], gateway: GatewayServer, gateway_database_url: str
) -> None:
    memory, _ = recording
    token = bearer((await issue_key(gateway_database_url, f"agent-{uuid.uuid4().hex[:8]}")).token)
    memory.fail_next = {"SearchEpisodes": 1, "UpdateConsciousnessState": 1}
    await gateway.stub.Recall(pb.RecallRequest(query="q"), metadata=token)
    assert len(memory.remaining["SearchEpisodes"]) == 2  # failed once, then served

    update = pb.UpdateIdentityStateRequest(
        state={"current_focus": "x"}, update_mask=field_mask_pb2.FieldMask(paths=["current_focus"])
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.UpdateIdentityState(update, metadata=token)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # the caller decides whether to retry
    assert len(memory.remaining["UpdateConsciousnessState"]) == 1


async def test_a_response_that_cannot_be_decoded_is_internal_naming_the_call(
    gateway_database_url: str, tmp_path: Path
) -> None:
    """A memory replica answering bytes no SearchEpisodesResponse decodes from (corrupt, or nested
    past the decoder's limit) gives the caller INTERNAL naming the call, not an AttributeError."""

    async def create_namespace(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        name = memory_pb.CreateNamespaceRequest.FromString(request).namespace.name
        return memory_pb.CreateNamespaceResponse(namespace=namespaces_pb2.Namespace(name=name)).SerializeToString()

    async def corrupt(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return b"\xff\xff\xff\xff"

    server = grpc.aio.server()
    handlers = {"CreateNamespace": create_namespace, "SearchEpisodes": corrupt}
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "cerebro.memory.v1.MemoryService",
                {name: grpc.unary_unary_rpc_method_handler(handler) for name, handler in handlers.items()},
            )
        ]
    )
    health = HealthServicer()
    await health.set("cerebro.memory.v1.MemoryService", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with gateway_server(
            gateway_database_url,
            tmp_path,
            memory_target=f"127.0.0.1:{port}",
            consensus_target="127.0.0.1:9",
            embedder_target="127.0.0.1:9",
        ) as gateway:
            token = bearer((await issue_key(gateway_database_url, f"agent-{uuid.uuid4().hex[:8]}")).token)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await gateway.stub.Recall(pb.RecallRequest(query="q"), metadata=token)
    finally:
        await server.stop(grace=None)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == (
        "the memory service failed: "
        "the response of /cerebro.memory.v1.MemoryService/SearchEpisodes could not be decoded"
    )
