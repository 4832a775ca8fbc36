"""The memory schema, the workers' pool, and namespace-scoped transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from cerebro.runtime import database
from cerebro.runtime.errors import not_found
from cerebro.runtime.migrations import Migration

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SCHEMA = database.Schema(component="memory", migrations_dir=MIGRATIONS_DIR)
# What the store's statements run on: a connection acquired from a pool (a proxy, to asyncpg's types)
# or one of its own.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


async def migrate(dsn: str) -> list[Migration]:
    """Apply the memory migrations not yet applied; returns those applied."""
    return await database.migrate(dsn, SCHEMA)


async def open_worker_pool(
    dsn: str, role: str | None, *, apply_migrations: bool, max_size: int, stop: asyncio.Event
) -> asyncpg.Pool | None:
    """The pool a worker works through as ``role``, once PostgreSQL answers (after the migrations, when
    ``apply_migrations``); None when ``stop`` is set first. Workers run without a ServiceHost."""

    async def open_pool() -> asyncpg.Pool:
        if apply_migrations:
            await database.migrate_when_reachable(dsn, SCHEMA)
        return await database.open_pool_when_reachable(database.dsn_with_role(dsn, role), max_size=max_size)

    opening = asyncio.ensure_future(open_pool())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([opening, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not opening.done():
        opening.cancel()
        await asyncio.gather(opening, return_exceptions=True)
        return None
    return opening.result()


@asynccontextmanager
async def namespace_transaction(
    pool: asyncpg.Pool, namespace: str, *, readonly: bool = False
) -> AsyncIterator[Connection]:
    """A transaction that sees only ``namespace`` (row-level security); NOT_FOUND if it does not exist."""
    async with pool.acquire() as connection, connection.transaction(readonly=readonly):
        exists = await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM memory.namespaces WHERE name = $1)"
            " FROM (SELECT set_config('cerebro.namespace', $1, true)) AS scope",
            namespace,
        )
        if not exists:
            raise not_found("namespace", namespace)
        yield connection
