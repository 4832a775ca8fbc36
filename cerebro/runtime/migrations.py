"""Versioned SQL migrations, applied once each, safe when several replicas start together.

A component (``memory``, ``consensus``) keeps its migrations as ``NNNN_description.sql`` files.
:func:`apply_migrations` takes a PostgreSQL advisory lock, so concurrent starters
queue up and the later ones find nothing left to do; each migration runs in its own transaction
together with its bookkeeping row, so a failure leaves no half-applied migration behind. A changed
file whose version was already applied is refused instead of silently diverging.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS cerebro_schema_migrations (
    component  text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)
"""


class MigrationError(RuntimeError):
    """The migrations on disk and in the database disagree, or a migration failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load_migrations(directory: Path) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNNN_description.sql")
        migrations.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migrations share a version number")
    return migrations


# One lock for every component: the bookkeeping table is shared, and concurrent
# CREATE TABLE IF NOT EXISTS statements can still collide in PostgreSQL's catalog.
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"cerebro-migrations").digest()[:8], "big", signed=True)


async def apply_migrations(dsn: str, component: str, migrations: list[Migration]) -> list[Migration]:
    """Apply the migrations of ``component`` not yet applied; returns those it applied."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            return await _apply_locked(connection, component, migrations)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await connection.close()


async def applied_versions(connection: asyncpg.Connection, component: str) -> dict[int, str]:
    rows = await connection.fetch(
        "SELECT version, checksum FROM cerebro_schema_migrations WHERE component = $1", component
    )
    return {row["version"]: row["checksum"] for row in rows}


async def _apply_locked(connection: asyncpg.Connection, component: str, migrations: list[Migration]) -> list[Migration]:
    await connection.execute(_BOOKKEEPING)
    done = await applied_versions(connection, component)
    applied = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise MigrationError(
                    f"{component} migration {migration.version:04d}_{migration.name} was changed after it was applied"
                )
            continue
        async with connection.transaction():
            try:
                await connection.execute(migration.sql)
            except asyncpg.PostgresError as exc:
                raise MigrationError(
                    f"{component} migration {migration.version:04d}_{migration.name} failed: {exc}"
                ) from exc
            await connection.execute(
                "INSERT INTO cerebro_schema_migrations (component, version, name, checksum) VALUES ($1, $2, $3, $4)",
                component,
                migration.version,
                migration.name,
                migration.checksum,
            )
        log.info("applied %s migration %04d_%s", component, migration.version, migration.name)
        applied.append(migration)
    return applied
