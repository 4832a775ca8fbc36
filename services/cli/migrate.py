"""`cerebro migrate`: apply every component's schema migrations, then give the service roles their logins."""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from cerebro.cli.commands import Command
from cerebro.runtime.config import ConfigError, Env
from cerebro.runtime.database_roles import enable_role_logins, role_passwords_from_env
from cerebro.runtime.migrations import Migration, MigrationError, apply_migrations, load_migrations
from services.consensus.main import MIGRATIONS_DIR as CONSENSUS_MIGRATIONS
from services.gateway.store.schema import MIGRATIONS_DIR as GATEWAY_MIGRATIONS
from services.memory.db import MIGRATIONS_DIR as MEMORY_MIGRATIONS

DESCRIPTION = """\
Apply the schema migrations of every component to CEREBRO_DATABASE_URL (or _FILE), connecting as the
database owner. Each migration runs once, in its own transaction, under an advisory lock (safe while
services start). Then each least-privilege role whose password is set gets a login with it:
cerebro_memory, cerebro_memory_worker and cerebro_memory_reader from CEREBRO_MEMORY_DATABASE_PASSWORD(_FILE),
CEREBRO_MEMORY_WORKER_DATABASE_PASSWORD(_FILE) and CEREBRO_MEMORY_READER_DATABASE_PASSWORD(_FILE);
cerebro_gateway from CEREBRO_GATEWAY_DATABASE_PASSWORD(_FILE); cerebro_consensus from
CEREBRO_CONSENSUS_DATABASE_PASSWORD(_FILE).
Services also apply migrations at start unless told not to (CEREBRO_<SERVICE>_APPLY_MIGRATIONS=false)."""

COMPONENTS = {"memory": MEMORY_MIGRATIONS, "consensus": CONSENSUS_MIGRATIONS, "gateway": GATEWAY_MIGRATIONS}


async def apply_all(dsn: str) -> dict[str, list[Migration]]:
    """Apply the migrations of every component, in order; the ones applied, by component."""
    return {
        component: await apply_migrations(dsn, component, load_migrations(directory))
        for component, directory in COMPONENTS.items()
    }


async def migrate(dsn: str) -> None:
    for component, applied in (await apply_all(dsn)).items():
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "none (up to date)"
        print(f"{component}: applied {names}")
    passwords = role_passwords_from_env()
    await enable_role_logins(dsn, passwords)
    if passwords:
        print(f"logins enabled for: {', '.join(sorted(passwords))}")


def run(args: argparse.Namespace) -> int:
    try:
        dsn = Env().secret("DATABASE_URL")
        if dsn is None:
            raise ConfigError("CEREBRO_DATABASE_URL (or CEREBRO_DATABASE_URL_FILE) is required")
        asyncio.run(migrate(dsn))
    except ConfigError as error:
        print(f"cerebro migrate: configuration error: {error}", file=sys.stderr)
        return 2
    except (MigrationError, OSError, asyncpg.PostgresError) as error:
        print(f"cerebro migrate: {error}", file=sys.stderr)
        return 1
    return 0


COMMAND = Command(
    help="apply database migrations and enable the service roles' logins", description=DESCRIPTION, run=run
)
