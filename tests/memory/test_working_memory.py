"""Working memory write-through on real PostgreSQL and Redis, Redis outages, and the reconciliation worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg
import grpc
import pytest
import redis.asyncio as redis
from google.protobuf import duration_pb2, field_mask_pb2, struct_pb2

from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.memory.v1 import working_memory_pb2
from tests.memory.embedder_double import EmbedderDouble
from tests.memory.helpers import (
    MemoryServer,
    running_memory_service,
    running_reconciliation_worker,
    violated_fields,
)
from tests.support import eventually
from tests.tcp_proxy import TcpProxy


def content(**values: object) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def new_item(ttl_seconds: int = 3600, **values: object) -> working_memory_pb2.WorkingMemoryItem:
    return working_memory_pb2.WorkingMemoryItem(
        context_type="conversation",
        content=content(**(values or {"topic": "schema"})),
        priority=working_memory_pb2.WORKING_MEMORY_PRIORITY_HIGH,
        ttl=duration_pb2.Duration(seconds=ttl_seconds),
    )


@pytest.fixture
async def redis_client(memory_redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(memory_redis_url)
    yield client
    await client.aclose()


def key_of(item: working_memory_pb2.WorkingMemoryItem) -> str:
    return f"cerebro:working:{item.namespace}:{item.item_id}"


async def test_writes_go_to_postgres_then_redis_and_reads_come_from_redis(
    memory: MemoryServer, admin: asyncpg.Connection, redis_client: redis.Redis
) -> None:
    item = (
        await memory.stub.CreateWorkingMemoryItem(pb.CreateWorkingMemoryItemRequest(namespace="nexus", item=new_item()))
    ).item
    assert item.version == 1 and item.priority == working_memory_pb2.WORKING_MEMORY_PRIORITY_HIGH
    assert await admin.fetchval("SELECT count(*) FROM memory.working_memory") == 1
    assert 3590 <= await redis_client.ttl(key_of(item)) <= 3600
    assert working_memory_pb2.WorkingMemoryItem.FromString(await redis_client.hget(key_of(item), "d")) == item

    # Served from Redis: the row is gone behind the service's back, the cached item is still returned.
    await admin.execute("DELETE FROM memory.working_memory")
    cached = await memory.stub.GetWorkingMemoryItem(
        pb.GetWorkingMemoryItemRequest(namespace="nexus", item_id=item.item_id)
    )
    assert cached.item == item
    # The cache is per namespace like everything else.
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.GetWorkingMemoryItem(pb.GetWorkingMemoryItemRequest(namespace="aria", item_id=item.item_id))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_cache_miss_reads_postgres_and_refills_redis(memory: MemoryServer, redis_client: redis.Redis) -> None:
    item = (
        await memory.stub.CreateWorkingMemoryItem(pb.CreateWorkingMemoryItemRequest(namespace="nexus", item=new_item()))
    ).item
    await redis_client.delete(key_of(item))
    fetched = await memory.stub.GetWorkingMemoryItem(
        pb.GetWorkingMemoryItemRequest(namespace="nexus", item_id=item.item_id)
    )
    assert fetched.item == item
    assert await redis_client.exists(key_of(item)) == 1


async def test_update_list_delete_and_expiry(memory: MemoryServer, redis_client: redis.Redis) -> None:
    item = (
        await memory.stub.CreateWorkingMemoryItem(pb.CreateWorkingMemoryItemRequest(namespace="nexus", item=new_item()))
    ).item
    updated = (
        await memory.stub.UpdateWorkingMemoryItem(
            pb.UpdateWorkingMemoryItemRequest(
                namespace="nexus",
                item=working_memory_pb2.WorkingMemoryItem(
                    item_id=item.item_id, content=content(topic="search"), ttl=duration_pb2.Duration(seconds=60)
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["content", "ttl"]),
            )
        )
    ).item
    assert updated.version == 2 and dict(updated.content) == {"topic": "search"}
    assert await redis_client.ttl(key_of(item)) <= 60
    fetched = await memory.stub.GetWorkingMemoryItem(
        pb.GetWorkingMemoryItemRequest(namespace="nexus", item_id=item.item_id)
    )
    assert fetched.item == updated

    short = (
        await memory.stub.CreateWorkingMemoryItem(
            pb.CreateWorkingMemoryItemRequest(namespace="nexus", item=new_item(ttl_seconds=1))
        )
    ).item
    listed = await memory.stub.ListWorkingMemoryItems(pb.ListWorkingMemoryItemsRequest(namespace="nexus"))
    assert [entry.item_id for entry in listed.items] == [short.item_id, item.item_id]
    await asyncio.sleep(1.2)
    listed = await memory.stub.ListWorkingMemoryItems(
        pb.ListWorkingMemoryItemsRequest(namespace="nexus", context_type="conversation")
    )
    assert [entry.item_id for entry in listed.items] == [item.item_id]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.GetWorkingMemoryItem(pb.GetWorkingMemoryItemRequest(namespace="nexus", item_id=short.item_id))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND

    await memory.stub.DeleteWorkingMemoryItem(
        pb.DeleteWorkingMemoryItemRequest(namespace="nexus", item_id=item.item_id)
    )
    assert await redis_client.exists(key_of(item)) == 0
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.GetWorkingMemoryItem(pb.GetWorkingMemoryItemRequest(namespace="nexus", item_id=item.item_id))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_idempotent_create_and_bad_input(memory: MemoryServer, admin: asyncpg.Connection) -> None:
    request = pb.CreateWorkingMemoryItemRequest(namespace="nexus", item=new_item(), request_id=str(uuid.uuid4()))
    first = await memory.stub.CreateWorkingMemoryItem(request)
    assert (await memory.stub.CreateWorkingMemoryItem(request)).item == first.item
    bad = working_memory_pb2.WorkingMemoryItem(
        context_type="", ttl=duration_pb2.Duration(seconds=40 * 86400), priority=9
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateWorkingMemoryItem(pb.CreateWorkingMemoryItemRequest(namespace="nexus", item=bad))
    assert violated_fields(error.value) == ["item.content", "item.context_type", "item.priority", "item.ttl"]
    assert await admin.fetchval("SELECT count(*) FROM memory.working_memory") == 1


async def test_redis_down_writes_succeed_reads_fall_back_and_reconciliation_repairs(
    memory_database_url: str, memory_redis_url: str, embedder: EmbedderDouble, redis_client: redis.Redis
) -> None:
    parts = urlsplit(memory_redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    proxied_url = memory_redis_url.replace(f":{parts.port}/", f":{proxy.port}/")
    try:
        async with running_memory_service(memory_database_url, proxied_url, embedder.target) as memory:
            before = (
                await memory.stub.CreateWorkingMemoryItem(
                    pb.CreateWorkingMemoryItemRequest(namespace="nexus", item=new_item())
                )
            ).item
            await proxy.cut()

            during = (
                await memory.stub.CreateWorkingMemoryItem(
                    pb.CreateWorkingMemoryItemRequest(namespace="nexus", item=new_item(step="down"))
                )
            ).item
            fetched = await memory.stub.GetWorkingMemoryItem(
                pb.GetWorkingMemoryItemRequest(namespace="nexus", item_id=during.item_id)
            )
            assert fetched.item == during
            changed = (
                await memory.stub.UpdateWorkingMemoryItem(
                    pb.UpdateWorkingMemoryItemRequest(
                        namespace="nexus",
                        item=working_memory_pb2.WorkingMemoryItem(
                            item_id=before.item_id, content=content(step="changed")
                        ),
                        update_mask=field_mask_pb2.FieldMask(paths=["content"]),
                    )
                )
            ).item
            stats = await memory.stub.GetStats(pb.GetStatsRequest(namespace="nexus"))
            assert stats.redis_keys == -1 and stats.working_memory_items == 2
            assert await redis_client.exists(key_of(during)) == 0

            # Redis is back but holds an outdated copy of one item and lacks the other: reconciliation repairs both.
            await proxy.start()
            orphan = f"cerebro:working:nexus:{uuid.uuid4()}"
            await redis_client.hset(orphan, mapping={"v": 1, "d": b""})
            async with running_reconciliation_worker(memory_database_url, memory_redis_url):

                async def repaired() -> bool:
                    cached = await redis_client.hget(key_of(before), "d")
                    return (
                        await redis_client.exists(key_of(during)) == 1
                        and cached is not None
                        and working_memory_pb2.WorkingMemoryItem.FromString(cached).version == changed.version
                        and await redis_client.exists(orphan) == 0
                    )

                await eventually(repaired)
            fetched = await memory.stub.GetWorkingMemoryItem(
                pb.GetWorkingMemoryItemRequest(namespace="nexus", item_id=before.item_id)
            )
            assert fetched.item == changed
    finally:
        await proxy.stop()


async def test_reconciliation_deletes_expired_rows(
    memory: MemoryServer, memory_database_url: str, memory_redis_url: str, admin: asyncpg.Connection
) -> None:
    await memory.stub.CreateWorkingMemoryItem(
        pb.CreateWorkingMemoryItemRequest(namespace="nexus", item=new_item(ttl_seconds=1))
    )
    kept = (
        await memory.stub.CreateWorkingMemoryItem(pb.CreateWorkingMemoryItemRequest(namespace="nexus", item=new_item()))
    ).item
    await asyncio.sleep(1.1)
    async with running_reconciliation_worker(memory_database_url, memory_redis_url):

        async def only_kept_left() -> bool:
            rows = await admin.fetch("SELECT item_id FROM memory.working_memory")
            return [str(row["item_id"]) for row in rows] == [kept.item_id]

        await eventually(only_kept_left)
