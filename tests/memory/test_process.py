"""The memory service as its own process: starts, migrates, serves health and reflection, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cerebro.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from services.memory.api.servicer import MemoryServicer
from tests.memory.embedder_double import EmbedderDouble
from tests.support import eventually

REPOSITORY = Path(__file__).resolve().parents[2]


def test_every_rpc_is_implemented() -> None:
    methods = memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"].methods
    generated = memory_service_pb2_grpc.MemoryServiceServicer
    assert [
        method.name for method in methods if getattr(MemoryServicer, method.name) is getattr(generated, method.name)
    ] == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_service_process_serves_and_stops_gracefully(
    fresh_database_url: str, memory_redis_url: str, embedder: EmbedderDouble
) -> None:
    port = free_port()
    environ = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY),
        "CEREBRO_BIND_HOST": "127.0.0.1",
        "CEREBRO_MEMORY_PORT": str(port),
        "CEREBRO_MEMORY_METRICS_PORT": "0",
        "CEREBRO_DATABASE_URL": fresh_database_url,
        "CEREBRO_REDIS_URL": memory_redis_url,
        "CEREBRO_EMBEDDER_TARGET": embedder.target,
        "CEREBRO_MEMORY_DATABASE_ROLE": "cerebro_memory",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.memory.main"], cwd=REPOSITORY, env=environ, stderr=subprocess.PIPE
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)

            async def serving() -> bool:
                try:
                    response = await health.Check(
                        health_pb2.HealthCheckRequest(service="cerebro.memory.v1.MemoryService"), timeout=1
                    )
                except grpc.aio.AioRpcError:
                    return False
                return response.status == health_pb2.HealthCheckResponse.SERVING

            await eventually(serving, timeout=60)
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            async for response in reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            ):
                names = {service.name for service in response.list_services_response.service}
            assert "cerebro.memory.v1.MemoryService" in names
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            stats = await stub.GetStats(memory_service_pb2.GetStatsRequest(namespace="nexus"))
            assert stats.memory_blocks == 5
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
