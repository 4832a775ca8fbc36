"""Migration 0007: the memory roles renamed from nexus_* to cerebro_memory*, on a PostgreSQL of their own.

Roles belong to the whole cluster, and the shared test server's were renamed by the first database
migrated there, so an upgrade can only be watched on a fresh server. Everything here runs as a schema
owner that is no superuser (as `cerebro migrate` does in compose and Kubernetes), on three databases
of one cluster upgraded one after the other, with one old role made by "the operator" (the superuser),
as a database operator's managed role is: the owner may use it but not rename or drop it.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from cerebro.embedded import EmbeddedPostgres
from cerebro.runtime.database_roles import enable_role_logins
from cerebro.runtime.migrations import apply_migrations, load_migrations
from services.memory.db import MIGRATIONS_DIR, SCHEMA
from tests.support import private_postgres

RENAMED = {"nexus_app": "cerebro_memory", "nexus_worker": "cerebro_memory_worker", "nexus_ro": "cerebro_memory_reader"}
BEFORE_RENAMING = [migration for migration in load_migrations(MIGRATIONS_DIR) if migration.version < 7]
# Up to the renaming: later migrations grant the new roles privileges of their own.
RENAMING = [migration for migration in load_migrations(MIGRATIONS_DIR) if migration.version <= 7]
OWNER = "schema_owner"

# What each memory role may do in a database: privileges on tables, columns, schemas and routines,
# and the row-level security policies that name it.
PRIVILEGES = r"""
SELECT r.rolname AS role, g.what, g.privilege FROM (
    SELECT a.grantee, 'table ' || c.oid::regclass::text AS what, a.privilege_type AS privilege
    FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) AS a
    UNION ALL
    SELECT a.grantee, 'column ' || t.attrelid::regclass::text || '.' || t.attname, a.privilege_type
    FROM pg_attribute t CROSS JOIN LATERAL aclexplode(t.attacl) AS a
    UNION ALL
    SELECT a.grantee, 'schema ' || n.nspname, a.privilege_type
    FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) AS a
    UNION ALL
    SELECT a.grantee, 'routine ' || p.oid::regprocedure::text, a.privilege_type
    FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) AS a
    UNION ALL
    SELECT member.role_oid, 'policy ' || pol.polname || ' on ' || pol.polrelid::regclass::text, 'applies to'
    FROM pg_policy pol CROSS JOIN LATERAL unnest(pol.polroles) AS member (role_oid)
) AS g JOIN pg_roles r ON r.oid = g.grantee
WHERE r.rolname LIKE 'nexus\_%' OR r.rolname LIKE 'cerebro\_memory%'
"""


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedPostgres]:
    with private_postgres("cerebro-roles-pg-") as postgres:
        yield postgres


@pytest.fixture(scope="module")
async def owner_password(server: EmbeddedPostgres) -> AsyncIterator[str]:
    """The schema owner (CREATEROLE, as deploy/postgres/initdb makes it), and the operator's old role."""
    password = secrets.token_hex(16)
    superuser = await asyncpg.connect(server.url)
    try:
        await superuser.execute(f"CREATE ROLE {OWNER} LOGIN CREATEROLE PASSWORD '{password}'")
        await superuser.execute("CREATE ROLE nexus_worker LOGIN")
    finally:
        await superuser.close()
    yield password


async def database(server: EmbeddedPostgres, name: str, owner_password: str) -> str:
    """A new database owned by the schema owner (pgvector created by the superuser); the owner's URL."""
    superuser = await asyncpg.connect(server.url)
    try:
        await superuser.execute(f"CREATE DATABASE {name} OWNER {OWNER}")
    finally:
        await superuser.close()
    superuser = await asyncpg.connect(server.url_for(name))
    try:
        await superuser.execute("CREATE EXTENSION vector")
    finally:
        await superuser.close()
    return as_user(server.url_for(name), OWNER, owner_password)


def as_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))


async def privileges(url: str) -> set[tuple[str, str, str]]:
    connection = await asyncpg.connect(url)
    try:
        return {(row["role"], row["what"], row["privilege"]) for row in await connection.fetch(PRIVILEGES)}
    finally:
        await connection.close()


async def roles(server: EmbeddedPostgres) -> set[str]:
    connection = await asyncpg.connect(server.url)
    try:
        rows = await connection.fetch(
            r"SELECT rolname FROM pg_roles WHERE rolname LIKE 'nexus\_%' OR rolname LIKE 'cerebro\_memory%'"
        )
        return {row["rolname"] for row in rows}
    finally:
        await connection.close()


def renamed(granted: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    return {(RENAMED.get(role, role), what, privilege) for role, what, privilege in granted}


async def test_an_upgrade_renames_the_roles_and_keeps_every_privilege_and_login(
    server: EmbeddedPostgres, owner_password: str
) -> None:
    first = await database(server, "first", owner_password)
    second = await database(server, "second", owner_password)
    for url in (first, second):
        await apply_migrations(url, SCHEMA.component, BEFORE_RENAMING)
    granted = await privileges(first)
    assert {role for role, _, _ in granted} == set(RENAMED)
    assert await privileges(second) == granted
    app_password = secrets.token_hex(16)
    await enable_role_logins(first, {"nexus_app": app_password})

    # The first database upgraded renames the owner's roles in place, in every database of the cluster;
    # the operator's role, which the owner may not rename, gets a new one holding this database's share.
    await apply_migrations(first, SCHEMA.component, RENAMING)
    assert await roles(server) == {*RENAMED.values(), "nexus_worker"}
    assert await privileges(first) == renamed(granted)
    still_old = await privileges(second)
    assert still_old == renamed({grant for grant in granted if grant[0] != "nexus_worker"}) | {
        grant for grant in granted if grant[0] == "nexus_worker"
    }
    # The login survives the rename: same password, new name.
    app = await asyncpg.connect(as_user(server.url_for("first"), "cerebro_memory", app_password))
    try:
        assert await app.fetchval("SELECT current_user") == "cerebro_memory"
        assert await app.fetchval("SELECT count(*) FROM memory.episodes") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("UPDATE memory.embeddings_queue SET attempts = 0")
    finally:
        await app.close()

    # The second database moves its share of the operator's role too; that role, now holding
    # nothing, is left for the operator to drop.
    await apply_migrations(second, SCHEMA.component, RENAMING)
    assert await privileges(second) == renamed(granted)
    assert await roles(server) == {*RENAMED.values(), "nexus_worker"}

    # A database created afterwards gets the old roles again from 0003, and 0007 moves and drops them.
    third = await database(server, "third", owner_password)
    await apply_migrations(third, SCHEMA.component, RENAMING)
    assert await privileges(third) == renamed(granted)
    assert await roles(server) == {*RENAMED.values(), "nexus_worker"}
