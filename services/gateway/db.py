"""The gateway's PostgreSQL schema: its migrations, applied at start (or by `cerebro migrate`)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg

from cerebro.runtime.migrations import Migration, apply_migrations, load_migrations

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
COMPONENT = "gateway"
RETRY_MAX_SECONDS = 5.0


async def migrate(dsn: str) -> list[Migration]:
    """Apply the gateway migrations not yet applied; returns those applied."""
    return await apply_migrations(dsn, COMPONENT, load_migrations(MIGRATIONS_DIR))


async def migrate_when_reachable(dsn: str) -> None:
    """Apply the migrations, waiting with backoff while PostgreSQL is unreachable."""
    delay = 0.2
    while True:
        try:
            await migrate(dsn)
            return
        except (TimeoutError, OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError) as exc:
            log.warning("PostgreSQL is unreachable for migrations (%s); retrying in %.1f s", exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_SECONDS)
