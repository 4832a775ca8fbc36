"""PostgreSQL outages: health follows the database, calls fail as retryable, and everything recovers."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.consensus.v1 import consensus_pb2_grpc
from cerebro.runtime.channels import open_channel
from services.consensus.events import INSTANCES_CHANNEL
from tests.consensus.harness import consensus_server, next_message, register
from tests.support import eventually
from tests.tcp_proxy import proxied


async def test_health_is_not_serving_while_postgres_is_down_and_calls_are_unavailable(
    fresh_database_url: str, tmp_path: Path
) -> None:
    async with proxied(fresh_database_url) as (proxy, url), consensus_server(url, tmp_path) as server:
        health = health_pb2_grpc.HealthStub(server.channel)

        async def health_is(status: int) -> bool:
            request = health_pb2.HealthCheckRequest(service="cerebro.consensus.v1.ConsensusService")
            response = await health.Check(request)
            return response.status == status

        member = await register(server, "NEXUS")
        assert await health_is(health_pb2.HealthCheckResponse.SERVING)
        watch = server.stub.WatchInstances(pb.WatchInstancesRequest(), timeout=60)
        assert (await next_message(watch)).event_type == pb.INSTANCE_EVENT_TYPE_EXISTING

        await proxy.cut()
        await eventually(lambda: health_is(health_pb2.HealthCheckResponse.NOT_SERVING), timeout=15)
        with pytest.raises(grpc.aio.AioRpcError) as during:
            await server.stub.GetInstance(pb.GetInstanceRequest(instance_id=member.instance_id))
        assert during.value.code() == grpc.StatusCode.UNAVAILABLE
        # A watcher is told that it may have missed changes, instead of silently missing them.
        with pytest.raises(grpc.aio.AioRpcError) as watch_lost:
            await next_message(watch, timeout=15)
        assert watch_lost.value.code() == grpc.StatusCode.UNAVAILABLE

        await proxy.start()
        await eventually(lambda: health_is(health_pb2.HealthCheckResponse.SERVING), timeout=15)

        async def reads_work() -> bool:
            try:
                await server.stub.GetInstance(pb.GetInstanceRequest(instance_id=member.instance_id))
            except grpc.aio.AioRpcError:
                return False
            return True

        await eventually(reads_work, timeout=15)
        rewatch = server.stub.WatchInstances(pb.WatchInstancesRequest(), timeout=60)
        assert (await next_message(rewatch)).instance.instance_id == member.instance_id
        await register(server, "ARIA")
        assert (await next_message(rewatch)).instance.instance_name == "ARIA"
        rewatch.cancel()


async def test_the_service_starts_once_postgres_comes_up(fresh_database_url: str, tmp_path: Path) -> None:
    async with proxied(fresh_database_url) as (proxy, url):
        await proxy.cut()
        asyncio.get_running_loop().call_later(1.5, lambda: asyncio.ensure_future(proxy.start()))
        async with consensus_server(url, tmp_path) as server:
            member = await register(server, "NEXUS")
            response = await server.stub.GetInstance(pb.GetInstanceRequest(instance_id=member.instance_id))
            assert response.instance.status == pb.INSTANCE_STATUS_ACTIVE


async def test_a_graceful_stop_ends_open_watches_at_once(fresh_database_url: str, tmp_path: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(consensus_server(fresh_database_url, tmp_path))
        await register(server, "NEXUS")
        # A channel of its own, so that the watch outlives the harness's channel.
        channel = open_channel(server.target, max_attempts=1)
        watch = consensus_pb2_grpc.ConsensusServiceStub(channel).WatchInstances(pb.WatchInstancesRequest(), timeout=60)
        assert (await next_message(watch)).event_type == pb.INSTANCE_EVENT_TYPE_EXISTING
        ending = asyncio.create_task(next_message(watch))
        stopping = asyncio.get_running_loop().time()
        await stack.aclose()
        # The grace period is 5 s; an open watch must not hold the stop up for all of it.
        assert asyncio.get_running_loop().time() - stopping < 3
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await ending
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        await channel.close()


async def test_a_change_that_cannot_be_delivered_ends_its_watches_and_later_ones_work(
    fresh_database_url: str, tmp_path: Path
) -> None:
    async with consensus_server(fresh_database_url, tmp_path) as server:
        await register(server, "NEXUS")
        watch = server.stub.WatchInstances(pb.WatchInstancesRequest(), timeout=60)
        assert (await next_message(watch)).event_type == pb.INSTANCE_EVENT_TYPE_EXISTING
        # Nothing of consensus writes this, but anyone with the database's login could.
        connection = await asyncpg.connect(fresh_database_url)
        try:
            await connection.execute("SELECT pg_notify($1, 'not a change')", INSTANCES_CHANNEL)
        finally:
            await connection.close()
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            # NEXUS's registration, committed before the watch subscribed, may still be heard first.
            while True:
                assert (await next_message(watch)).instance.instance_name == "NEXUS"
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE

        rewatch = server.stub.WatchInstances(pb.WatchInstancesRequest(), timeout=60)
        assert (await next_message(rewatch)).instance.instance_name == "NEXUS"
        await register(server, "ARIA")
        assert (await next_message(rewatch)).instance.instance_name == "ARIA"
        rewatch.cancel()
