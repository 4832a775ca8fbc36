"""The Redis side of working memory: a cache that may be empty or down at any moment.

Each item is a hash {v: version, d: serialised WorkingMemoryItem} under
``cerebro:working:<namespace>:<item_id>``, expiring when the item does. A write never replaces a
newer version, so concurrent writers cannot leave an older item in the cache.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from cerebro.memory.v1 import working_memory_pb2

KEY_PREFIX = "cerebro:working:"
# Fail fast: Redis is best effort, a request must not wait for it.
SOCKET_TIMEOUT_SECONDS = 0.5

# KEYS[1] = key; ARGV = version, serialised item, expiry (Unix milliseconds).
_PUT_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) > tonumber(ARGV[1]) then
    return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
"""

CacheErrors = (redis.RedisError, OSError)


def cache_key(namespace: str, item_id: str) -> str:
    return f"{KEY_PREFIX}{namespace}:{item_id}"


def parse_key(key: str) -> tuple[str, uuid.UUID] | None:
    """(namespace, item id) of a cache key; None for a key that is not one."""
    if not key.startswith(KEY_PREFIX):
        return None
    namespace, _, item_id = key[len(KEY_PREFIX) :].partition(":")
    try:
        return namespace, uuid.UUID(item_id)
    except ValueError:
        return None


def open_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
        decode_responses=False,
    )


class WorkingMemoryCache:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._put = client.register_script(_PUT_SCRIPT)

    async def close(self) -> None:
        await self.client.aclose()

    async def put(self, item: working_memory_pb2.WorkingMemoryItem) -> bool:
        """Store ``item`` unless the cache holds a newer version; returns whether it was written."""
        expire_ms = item.expire_time.seconds * 1000 + item.expire_time.nanos // 1_000_000
        written = await self._put(
            keys=[cache_key(item.namespace, item.item_id)],
            args=[item.version, item.SerializeToString(), expire_ms],
        )
        return bool(written)

    async def get(self, namespace: str, item_id: str) -> working_memory_pb2.WorkingMemoryItem | None:
        data = await self.client.hget(cache_key(namespace, item_id), "d")
        if data is None:
            return None
        return working_memory_pb2.WorkingMemoryItem.FromString(data)

    async def delete(self, namespace: str, item_id: str) -> None:
        await self.client.delete(cache_key(namespace, item_id))

    async def versions(self, keys: list[str]) -> list[int | None]:
        """The cached version under each key (None where absent), in one round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, "v")
            values = await pipe.execute()
        return [None if value is None else int(value) for value in values]

    async def scan_keys(self, count: int) -> AsyncIterator[list[str]]:
        """Every working memory key, in batches (SCAN: never blocks Redis the way KEYS does)."""
        cursor = 0
        while True:
            cursor, keys = await self.client.scan(cursor=cursor, match=f"{KEY_PREFIX}*", count=count)
            if keys:
                yield [key.decode() for key in keys]
            if cursor == 0:
                return

    async def delete_keys(self, keys: list[str]) -> None:
        if keys:
            await self.client.delete(*keys)

    async def key_count(self) -> int:
        return int(await self.client.dbsize())
