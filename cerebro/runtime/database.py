"""PostgreSQL connection pools shared by every service that stores data."""

from __future__ import annotations

import contextlib
import json

import asyncpg
from pgvector.asyncpg import register_vector


async def _init_connection(connection: asyncpg.Connection) -> None:
    # jsonb <-> Python values, and vector <-> numpy arrays, on every pooled connection.
    await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await connection.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    # The vector extension is created by a migration; pools opened before it exists skip the codec.
    with contextlib.suppress(ValueError):
        await register_vector(connection)


async def open_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections decode jsonb and pgvector values; fails fast if PostgreSQL is down."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=30,
        # Recycle idle connections so a restarted PostgreSQL is picked up cleanly.
        max_inactive_connection_lifetime=60,
    )


async def check_connection(pool: asyncpg.Pool) -> None:
    """Raises while PostgreSQL is unreachable (the health probe of data services)."""
    async with pool.acquire(timeout=2) as connection:
        await connection.fetchval("SELECT 1")
