"""Shared fixtures: one real embedded PostgreSQL + Redis per test session (nothing is mocked).

- `embedded_stack`: the running `cerebro.embedded.EmbeddedStack`, in a temporary data directory.
- `postgres_url`: URL of its `postgres` database (superuser, password included).
- `redis_url`: URL of its Redis (password included).
- `fresh_database_url`: URL of a new, empty database for one test, dropped afterwards.
- `streaming_replica`: a hot standby of the `embedded_stack`'s PostgreSQL (pg_basebackup + streaming
  replication); `replica_url(url)` names a database of the primary on it.
- `stack_data_dir`: an empty directory for a test that starts an `EmbeddedStack` of its own.
- `cerebro_up`: one `cerebro up` (a subprocess, as a user starts it) shared by the end-to-end tests that
  only call it; they keep apart by namespace, instance name and client address. Tests that stop or
  restart it start their own.

Under pytest-xdist (`scripts/test` runs one worker per core and one more) every worker is a session of its
own, with its own embedded servers on free ports in its own temporary directories. A worker takes a whole
group of tests at a time (`xdist_group`): their module, so module fixtures start once, or one group for all
the users of a fixture too dear to start on every worker (`SHARED_GROUPS`).

The data directories are made with `tempfile.mkdtemp`, not pytest's tmp_path: when tests run as root,
PostgreSQL runs as another account that must be able to reach its data, and a concurrently starting pytest
session makes /tmp/pytest-of-root private again (and may remove numbered directories in it) while our
servers still use them.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from xdist.scheduler import LoadScopeScheduling

from cerebro.embedded import EmbeddedPostgres, EmbeddedStack
from tests.cerebro_up import RunningUp, SharedUp, free_port_environ
from tests.support import eventually

# Session fixtures that cost tens of seconds (a whole `cerebro up`, the network-namespace mesh, the models): under
# pytest-xdist the tests that use one form one group, which one worker runs, so it starts once. By path, since
# the scheduler sees only test ids: the modules that use `cerebro_up`, the mesh package, the model tests.
SHARED_GROUPS = {
    "tests/bad_actors/": "cerebro-up",
    "tests/mcp/": "cerebro-up",
    "tests/test_cli_keys.py": "cerebro-up",
    "tests/test_client_install.py": "cerebro-up",
    "tests/test_shell_agent.py": "cerebro-up",
    "tests/mesh/": "netns-mesh",
    "tests/embedder/": "models",
}

# Long leases: agents of the shared `cerebro up` register once and must stay electors while tests run.
SHARED_UP_LEASES = {"CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": "300", "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": "600"}


def xdist_group(nodeid: str) -> str:
    """The unit of work a pytest-xdist worker takes whole: a test's module, or its shared group."""
    path = nodeid.split("::", 1)[0]
    return next((group for prefix, group in SHARED_GROUPS.items() if path.startswith(prefix)), path)


class GroupScheduling(LoadScopeScheduling):
    """xdist's scheduling by scope, with `xdist_group` as the scope."""

    def _split_scope(self, nodeid: str) -> str:
        return xdist_group(nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> GroupScheduling:
    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every user of the shared `cerebro up` is in its group (else a worker would boot a second one). On an
    xdist worker, the groups of whole-process tests first: they are the longest units of work, and one
    started last would end the run alone. (The scheduler hands out groups in collection order.)"""
    strays = sorted(
        {
            item.nodeid.split("::", 1)[0]
            for item in items
            if "cerebro_up" in getattr(item, "fixturenames", ()) and xdist_group(item.nodeid) != "cerebro-up"
        }
    )
    if strays:
        raise pytest.UsageError(f"add {', '.join(strays)} to SHARED_GROUPS in tests/conftest.py: they use cerebro_up")
    if hasattr(config, "workerinput"):
        long_groups = {xdist_group(item.nodeid) for item in items if item.get_closest_marker("e2e")}
        items.sort(key=lambda item: xdist_group(item.nodeid) not in long_groups)


@pytest.fixture(scope="session")
def embedded_stack() -> Iterator[EmbeddedStack]:
    with _temp_dir("cerebro-test-stack-") as data_dir, EmbeddedStack(data_dir) as stack:
        yield stack


@pytest.fixture(scope="session")
def cerebro_up() -> Iterator[SharedUp]:
    with _temp_dir("cerebro-test-up-") as data_dir:
        ports = free_port_environ()
        running = RunningUp(data_dir, ports, leases=SHARED_UP_LEASES)
        try:
            running.wait_until_up()
            yield SharedUp(data_dir, ports)
        finally:
            output = running.interrupt()
        assert running.process.returncode == 0, output


@pytest.fixture
def stack_data_dir() -> Iterator[Path]:
    with _temp_dir("cerebro-test-") as data_dir:
        yield data_dir


@pytest.fixture(scope="session")
def streaming_replica(embedded_stack: EmbeddedStack) -> Iterator[EmbeddedPostgres]:
    with _temp_dir("cerebro-test-replica-") as data_dir:
        replica = EmbeddedPostgres(data_dir)
        replica.start_as_replica_of(embedded_stack.postgres)
        try:
            yield replica
        finally:
            replica.stop()


def replica_url(replica: EmbeddedPostgres, database_url: str) -> str:
    """``database_url``'s database on ``replica`` (same superuser and password: the replica is a copy)."""
    return replica.url_for(urlsplit(database_url).path.lstrip("/"))


async def replica_caught_up(primary_url: str, replica: asyncpg.Connection) -> None:
    """Wait until ``replica`` has replayed all the primary (of ``primary_url``) has written so far."""
    primary = await asyncpg.connect(primary_url)
    try:
        position = await primary.fetchval("SELECT pg_current_wal_lsn()")
    finally:
        await primary.close()
    await eventually(
        lambda: replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", position), timeout=30, interval=0.02
    )


@asynccontextmanager
async def replica_session(database_url: str, replica: EmbeddedPostgres) -> AsyncIterator[asyncpg.Connection]:
    """A superuser session on the replica's copy of ``database_url``'s database, once the replica has it;
    replay is resumed at the end (a test may pause it)."""
    # The replica's own postgres database first: the test database exists there once its creation is replayed.
    server = await asyncpg.connect(replica.url)
    try:
        await replica_caught_up(database_url, server)
    finally:
        await server.close()
    connection = await asyncpg.connect(replica_url(replica, database_url))
    try:
        yield connection
    finally:
        await connection.execute("SELECT pg_wal_replay_resume()")
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url(embedded_stack: EmbeddedStack) -> str:
    return embedded_stack.database_url


@pytest.fixture(scope="session")
def redis_url(embedded_stack: EmbeddedStack) -> str:
    return embedded_stack.redis_url


@pytest.fixture
async def fresh_database_url(embedded_stack: EmbeddedStack) -> AsyncIterator[str]:
    name = f"test_{secrets.token_hex(8)}"
    await _execute_as_superuser(embedded_stack, f"CREATE DATABASE {name}")
    yield embedded_stack.postgres.url_for(name)
    # FORCE: connections a test left open must not keep the database alive.
    await _execute_as_superuser(embedded_stack, f"DROP DATABASE {name} WITH (FORCE)")


@contextmanager
def _temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def _execute_as_superuser(stack: EmbeddedStack, statement: str) -> None:
    connection = await asyncpg.connect(stack.database_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
