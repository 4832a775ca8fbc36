"""Fixtures of the operations tests: a migrated Cerebro database and empty databases for old shapes."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg
import pytest

from cerebro.embedded import EmbeddedStack
from services.memory.db import migrate
from tests.memory.embedder_double import EmbedderDouble


@asynccontextmanager
async def new_database(stack: EmbeddedStack) -> AsyncIterator[str]:
    """URL of a new, empty database on the embedded server, dropped afterwards."""
    name = f"ops_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(stack.database_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        yield stack.postgres.url_for(name)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


@pytest.fixture
async def databases(embedded_stack: EmbeddedStack) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """A factory of new empty databases, all dropped after the test."""
    async with AsyncExitStack() as stack:

        async def make() -> str:
            return await stack.enter_async_context(new_database(embedded_stack))

        yield make


@pytest.fixture
async def cerebro_url(databases: Callable[[], Awaitable[str]]) -> str:
    """A Cerebro database with every memory migration applied (and its genesis blocks)."""
    url = await databases()
    await migrate(url)
    return url


@pytest.fixture
async def cerebro(cerebro_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(cerebro_url)
    yield connection
    await connection.close()


@pytest.fixture
async def embedder() -> AsyncIterator[EmbedderDouble]:
    """The memory tests' real gRPC EmbedderService double, with a settable embedding version."""
    double = EmbedderDouble()
    await double.start()
    yield double
    await double.stop()
