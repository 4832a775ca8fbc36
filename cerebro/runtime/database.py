"""PostgreSQL for every process that stores data: the URL, migrations when reachable, pools, the probe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pgvector.asyncpg import register_vector

from cerebro.runtime.config import ConfigError
from cerebro.runtime.migrations import Migration, apply_migrations, load_migrations
from cerebro.runtime.session_state import TrackedConnection, reset_if_changed

log = logging.getLogger(__name__)

# What a query function takes: a connection of its own (an operator's command) or one from a pool.
Connection = asyncpg.Connection | PoolConnectionProxy

RETRY_MIN_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
# What PostgreSQL not (yet) accepting connections looks like.
UNREACHABLE: tuple[type[BaseException], ...] = (
    TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)


@dataclass(frozen=True)
class Schema:
    """A component's tables: its name in the migrations' bookkeeping, and its ``NNNN_name.sql`` files."""

    component: str
    migrations_dir: Path

    def migrations(self) -> list[Migration]:
        return load_migrations(self.migrations_dir)


def require_database_url(database_url: str | None, process: str) -> str:
    if database_url is None:
        raise ConfigError(f"CEREBRO_DATABASE_URL (or CEREBRO_DATABASE_URL_FILE) is required by {process}")
    return database_url


def dsn_with_role(dsn: str, role: str | None) -> str:
    """``dsn`` whose sessions start as ``role`` (the URL's user must be a member of it)."""
    if role is None:
        return dsn
    parts = urlsplit(dsn)
    # asyncpg sends unknown query parameters as startup settings: `role` becomes the session's role.
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "role"] + [("role", role)]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def migrate(dsn: str, schema: Schema) -> list[Migration]:
    """Apply the migrations of ``schema`` not yet applied; returns those applied."""
    return await apply_migrations(dsn, schema.component, schema.migrations())


async def migrate_when_reachable(dsn: str, schema: Schema) -> list[Migration]:
    """:func:`migrate`, waiting with backoff while PostgreSQL is unreachable (a process starting before it)."""
    delay = RETRY_MIN_SECONDS
    while True:
        try:
            return await migrate(dsn, schema)
        except UNREACHABLE as exc:
            log.warning("PostgreSQL is unreachable for the %s migrations (%s); retrying", schema.component, exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_SECONDS)


async def _init_connection(connection: asyncpg.Connection) -> None:
    # jsonb <-> Python values, and vector <-> numpy arrays, on every pooled connection.
    await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await connection.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    # The vector extension is created by a migration; pools opened before it exists skip the codec.
    with contextlib.suppress(ValueError):
        await register_vector(connection)


async def open_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections decode jsonb and pgvector values, and are reset on release when a statement
    may have changed their session (:mod:`cerebro.runtime.session_state`); fails fast if PostgreSQL is down."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        connection_class=TrackedConnection,
        reset=reset_if_changed,
        command_timeout=30,
        # Recycle idle connections so a restarted PostgreSQL is picked up cleanly.
        max_inactive_connection_lifetime=60,
    )


async def open_pool_when_reachable(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """:func:`open_pool`, waiting with backoff while PostgreSQL is unreachable."""
    delay = RETRY_MIN_SECONDS
    while True:
        try:
            return await open_pool(dsn, min_size=min_size, max_size=max_size)
        except UNREACHABLE as exc:
            log.warning("PostgreSQL is unreachable (%s); retrying", exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_SECONDS)


async def check_connection(pool: asyncpg.Pool) -> None:
    """Raises while PostgreSQL is unreachable (the health probe of data services)."""
    async with pool.acquire(timeout=2) as connection:
        await connection.fetchval("SELECT 1")
