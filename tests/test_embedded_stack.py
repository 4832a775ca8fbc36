"""The embedded PostgreSQL + pgvector and Redis, on the real servers."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis.asyncio as aioredis
from pgvector.asyncpg import register_vector
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, ResponseError

import cerebro
from cerebro.embedded import EmbeddedServerError, EmbeddedStack
from tests.support import free_port

REPO_ROOT = Path(cerebro.__file__).resolve().parent.parent

# Starts a stack without a `with` block, prints the server pids, then waits to be signalled.
OWNER_SCRIPT = """
import sys, time
from cerebro.embedded import EmbeddedStack
stack = EmbeddedStack(sys.argv[1])
stack.start()
print(stack.postgres.pid, stack.redis.pid, flush=True)
time.sleep(600)
"""


async def test_pgvector_hnsw_index_returns_nearest(fresh_database_url: str) -> None:
    connection = await asyncpg.connect(fresh_database_url)
    try:
        await connection.execute("CREATE EXTENSION vector")
        await register_vector(connection)
        await connection.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector(3) NOT NULL)")
        rows = [(1, [1.0, 0.0, 0.0]), (2, [0.0, 1.0, 0.0]), (3, [0.0, 0.0, 1.0]), (4, [0.7, 0.7, 0.0])]
        await connection.executemany("INSERT INTO items VALUES ($1, $2)", rows)
        await connection.execute("CREATE INDEX items_embedding ON items USING hnsw (embedding vector_cosine_ops)")
        # With four rows the planner would scan the table; make it take the HNSW index.
        await connection.execute("SET enable_seqscan = off")
        query = "SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 2"
        plan = "\n".join(row[0] for row in await connection.fetch(f"EXPLAIN {query}", [0.1, 0.9, 0.0]))
        nearest = [row["id"] for row in await connection.fetch(query, [0.1, 0.9, 0.0])]
    finally:
        await connection.close()
    assert "items_embedding" in plan
    assert nearest == [2, 4]


async def test_postgres_requires_the_password(postgres_url: str) -> None:
    url = urlsplit(postgres_url)
    wrong = url._replace(netloc=f"{url.username}:wrong-password@{url.hostname}:{url.port}").geturl()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(wrong)


async def test_postgres_listens_on_loopback_only(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        assert await connection.fetchval("SHOW listen_addresses") == "127.0.0.1"
        assert await connection.fetchval("SHOW server_version_num") >= "180000"
    finally:
        await connection.close()


async def test_redis_round_trip_with_password(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        await client.set("cerebro:test:greeting", "hello", ex=60)
        assert await client.get("cerebro:test:greeting") == b"hello"
        assert await client.config_get("bind") == {"bind": "127.0.0.1"}
    finally:
        await client.aclose()


async def test_redis_refuses_clients_without_the_password(embedded_stack: EmbeddedStack) -> None:
    # No retries: redis-py would retry the refused handshake with backoff for seconds.
    client = aioredis.Redis(host="127.0.0.1", port=embedded_stack.redis.port, retry=Retry(NoBackoff(), 0))
    try:
        with pytest.raises((AuthenticationError, ResponseError), match=r"(?i)auth"):
            await client.get("anything")
    finally:
        await client.aclose()


def test_secrets_are_readable_by_owner_only(embedded_stack: EmbeddedStack) -> None:
    secrets_dir = embedded_stack.data_dir / "secrets"
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    for name in ("postgres-password", "redis-password"):
        assert stat.S_IMODE((secrets_dir / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(embedded_stack.redis.config_file.stat().st_mode) == 0o600


def test_second_owner_of_a_data_directory_is_refused(embedded_stack: EmbeddedStack) -> None:
    with pytest.raises(EmbeddedServerError, match="in use by another process"):
        EmbeddedStack(embedded_stack.data_dir).start()
    # The refused start touched nothing: the running stack still works.
    assert _process_running(embedded_stack.postgres.pid)


async def test_restart_over_same_data_dir_keeps_data_and_stop_leaves_no_process(stack_data_dir: Path) -> None:
    with EmbeddedStack(stack_data_dir) as stack:
        connection = await asyncpg.connect(stack.database_url)
        await connection.execute("CREATE TABLE notes (body text)")
        await connection.execute("INSERT INTO notes VALUES ('written before restart')")
        await connection.close()
        client = aioredis.from_url(stack.redis_url)
        await client.set("kept", "across restart")
        await client.aclose()
        server_pids = [stack.redis.pid, *_postgres_process_tree(stack.postgres.pid)]
    assert _still_running(server_pids) == []

    postgres_port, redis_port = free_port(), free_port()
    with EmbeddedStack(stack_data_dir, postgres_port=postgres_port, redis_port=redis_port) as stack:
        assert urlsplit(stack.database_url).port == postgres_port
        assert urlsplit(stack.redis_url).port == redis_port
        connection = await asyncpg.connect(stack.database_url)
        assert await connection.fetchval("SELECT body FROM notes") == "written before restart"
        await connection.close()
        client = aioredis.from_url(stack.redis_url)
        assert await client.get("kept") == b"across restart"
        await client.aclose()


@pytest.mark.parametrize("owner_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_signalled_owner_stops_its_servers(stack_data_dir: Path, owner_signal: signal.Signals) -> None:
    owner, server_pids = _start_owner_process(stack_data_dir)
    owner.send_signal(owner_signal)
    owner.wait(60)
    assert _still_running(server_pids) == []


def test_start_stops_servers_left_by_a_killed_owner(stack_data_dir: Path) -> None:
    owner, leftover_pids = _start_owner_process(stack_data_dir)
    owner.kill()
    owner.wait(60)
    # SIGKILL gives the owner no chance to clean up.
    assert [pid for pid in leftover_pids if _process_running(pid)] == leftover_pids

    with EmbeddedStack(stack_data_dir) as stack:
        assert _still_running(leftover_pids) == []
        assert stack.postgres.pid not in leftover_pids


def _start_owner_process(data_dir: Path) -> tuple[subprocess.Popen[str], list[int]]:
    """A separate Python process owning a stack over `data_dir`; returns it and the servers' process ids."""
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert owner.stdout is not None
    postgres_pid, redis_pid = (int(pid) for pid in owner.stdout.readline().split())
    return owner, [redis_pid, *_postgres_process_tree(postgres_pid)]


def _postgres_process_tree(postmaster_pid: int | None) -> list[int]:
    """The postmaster and its children (checkpointer, background writer, ...)."""
    assert postmaster_pid is not None
    children = [pid for pid in _all_pids() if _parent_pid(pid) == postmaster_pid]
    return [postmaster_pid, *children]


def _still_running(pids: list[int | None], timeout: float = 10.0) -> list[int | None]:
    """The pids among `pids` that still run after waiting up to `timeout` for them to exit."""
    deadline = time.monotonic() + timeout
    while True:
        running = [pid for pid in pids if _process_running(pid)]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.05)


def _process_running(pid: int | None) -> bool:
    # From /proc rather than kill(pid, 0): an exited server that init has not reaped yet is a zombie,
    # which kill(pid, 0) still reports as present.
    assert pid is not None
    try:
        return _proc_stat(pid)[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _parent_pid(pid: int) -> int | None:
    try:
        return int(_proc_stat(pid)[1])
    except (FileNotFoundError, ProcessLookupError):
        return None


def _proc_stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name: state, parent pid, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
