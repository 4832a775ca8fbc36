"""Fixtures of the memory tests: a migrated fresh database, a Redis database, the Embedder double, the service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as redis

from services.memory.db import migrate
from tests.memory.embedder_double import EmbedderDouble
from tests.memory.helpers import MemoryServer, running_memory_service

# The memory tests keep to their own Redis database so flushing it disturbs no other test.
REDIS_DATABASE = 7


@pytest.fixture
async def memory_database_url(fresh_database_url: str) -> str:
    await migrate(fresh_database_url)
    return fresh_database_url


@pytest.fixture
async def admin(memory_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to the test database, to look at rows behind the API."""
    connection = await asyncpg.connect(memory_database_url)
    yield connection
    await connection.close()


@pytest.fixture
async def memory_redis_url(redis_url: str) -> str:
    url = f"{redis_url.rsplit('/', 1)[0]}/{REDIS_DATABASE}"
    client = redis.Redis.from_url(url)
    await client.flushdb()
    await client.aclose()
    return url


@pytest.fixture
async def embedder() -> AsyncIterator[EmbedderDouble]:
    double = EmbedderDouble()
    await double.start()
    yield double
    await double.stop()


@pytest.fixture
async def memory(
    memory_database_url: str, memory_redis_url: str, embedder: EmbedderDouble
) -> AsyncIterator[MemoryServer]:
    async with running_memory_service(memory_database_url, memory_redis_url, embedder.target) as server:
        yield server
