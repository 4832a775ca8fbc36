"""Fixtures of the gateway tests: a fresh database with the gateway schema, and a running mesh."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from cerebro.embedded import EmbeddedStack
from cerebro.runtime.database import migrate
from services.gateway.store.schema import SCHEMA
from tests.gateway.harness import Mesh, running_mesh, temporary_database


@pytest.fixture
async def gateway_database_url(fresh_database_url: str) -> str:
    await migrate(fresh_database_url, SCHEMA)
    return fresh_database_url


@pytest.fixture
async def gateway_pool(gateway_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(gateway_database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def mesh(embedded_stack: EmbeddedStack) -> AsyncIterator[Mesh]:
    """One mesh for a test module; tests keep apart by using namespaces of their own."""
    data_dir = Path(tempfile.mkdtemp(prefix="cerebro-gateway-test-"))
    try:
        async with temporary_database(embedded_stack) as database_url, running_mesh(database_url, data_dir) as running:
            yield running
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses."""
    return f"agent-{uuid.uuid4().hex[:10]}"
