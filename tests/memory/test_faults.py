"""PostgreSQL outages seen through a real network cut: UNAVAILABLE, NOT_SERVING, nothing half-written, recovery."""

from __future__ import annotations

from urllib.parse import urlsplit

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2

from cerebro.memory.v1 import episodes_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from tests.memory.embedder_double import EmbedderDouble
from tests.memory.helpers import MemoryServer, running_memory_service
from tests.support import eventually
from tests.tcp_proxy import TcpProxy


def create(content: str) -> pb.CreateEpisodeRequest:
    return pb.CreateEpisodeRequest(namespace="nexus", episode=episodes_pb2.Episode(content=content))


async def health_is(memory: MemoryServer, status: int) -> bool:
    return await memory.health_status() == status


async def test_postgres_down_means_unavailable_and_not_serving_until_it_is_back(
    memory_database_url: str, memory_redis_url: str, embedder: EmbedderDouble, admin: asyncpg.Connection
) -> None:
    parts = urlsplit(memory_database_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    proxied_url = memory_database_url.replace(f":{parts.port}/", f":{proxy.port}/")
    try:
        async with running_memory_service(proxied_url, memory_redis_url, embedder.target) as memory:
            await memory.stub.CreateEpisode(create("before the outage"))
            assert await memory.health_status() == health_pb2.HealthCheckResponse.SERVING

            await proxy.cut()
            for call in (
                memory.stub.CreateEpisode(create("during the outage")),
                memory.stub.BatchCreateEpisodes(
                    pb.BatchCreateEpisodesRequest(namespace="nexus", requests=[create("batch during the outage")] * 3)
                ),
                memory.stub.ListEpisodes(pb.ListEpisodesRequest(namespace="nexus")),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as error:
                    await call
                assert error.value.code() == grpc.StatusCode.UNAVAILABLE
            await eventually(lambda: health_is(memory, health_pb2.HealthCheckResponse.NOT_SERVING))

            await proxy.start()
            await eventually(lambda: health_is(memory, health_pb2.HealthCheckResponse.SERVING))
            await memory.stub.CreateEpisode(create("after the outage"))
    finally:
        await proxy.stop()
    contents = await admin.fetch("SELECT content FROM memory.episodes ORDER BY created_at")
    assert [row["content"] for row in contents] == ["before the outage", "after the outage"]
    assert await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue") == 2
