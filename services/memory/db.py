"""Connections of the memory service: the role a process works as, and namespace-scoped transactions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from cerebro.runtime.config import ConfigError
from cerebro.runtime.errors import not_found
from cerebro.runtime.migrations import Migration, apply_migrations, load_migrations

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
COMPONENT = "memory"


def require_database_url(database_url: str | None) -> str:
    if database_url is None:
        raise ConfigError("CEREBRO_DATABASE_URL (or CEREBRO_DATABASE_URL_FILE) is required")
    return database_url


def dsn_with_role(dsn: str, role: str | None) -> str:
    """``dsn`` whose sessions start as ``role`` (the URL's user must be a member of it)."""
    if role is None:
        return dsn
    parts = urlsplit(dsn)
    # asyncpg sends unknown query parameters as startup settings: `role` becomes the session's role.
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "role"] + [("role", role)]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def migrate(dsn: str) -> list[Migration]:
    """Apply the memory migrations not yet applied (what `cerebro migrate` and the service start run)."""
    return await apply_migrations(dsn, COMPONENT, load_migrations(MIGRATIONS_DIR))


async def migrate_when_reachable(dsn: str, stop: asyncio.Event | None = None) -> None:
    """Apply migrations, waiting with backoff while PostgreSQL is not reachable yet."""
    delay = 0.5
    while True:
        try:
            await migrate(dsn)
            return
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError) as exc:
            log.warning("PostgreSQL not reachable for migrations (%s); retrying in %.1fs", exc, delay)
        if stop is not None and stop.is_set():
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


@asynccontextmanager
async def namespace_transaction(
    pool: asyncpg.Pool, namespace: str, *, readonly: bool = False
) -> AsyncIterator[asyncpg.Connection]:
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
