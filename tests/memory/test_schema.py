"""The memory migrations against real PostgreSQL: applied once, roles, row-level security, queue triggers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from cerebro.runtime.database import dsn_with_role
from cerebro.runtime.database_roles import enable_role_logins, role_passwords_from_env
from cerebro.runtime.migrations import apply_migrations, load_migrations
from services.memory.db import MIGRATIONS_DIR, SCHEMA, migrate


async def test_migrations_apply_once_even_when_started_together(fresh_database_url: str) -> None:
    results = await asyncio.gather(*(migrate(fresh_database_url) for _ in range(3)))
    assert sorted(len(applied) for applied in results) == [0, 0, len(load_migrations(MIGRATIONS_DIR))]
    assert await migrate(fresh_database_url) == []


async def test_genesis_blocks_of_the_default_namespace(admin: asyncpg.Connection) -> None:
    rows = await admin.fetch(
        "SELECT label, read_only, version FROM memory.memory_blocks WHERE namespace = 'nexus' ORDER BY label"
    )
    assert [(row["label"], row["read_only"], row["version"]) for row in rows] == [
        ("aria", True, 1),
        ("consciousness_expansion", False, 1),
        ("persona", True, 1),
        ("ricardo", True, 1),
        ("technical_preferences", False, 1),
    ]
    assert await admin.fetchval("SELECT count(*) FROM memory.memory_block_revisions") == 5


async def test_one_job_per_insert_and_per_content_change(admin: asyncpg.Connection) -> None:
    await admin.execute(
        "INSERT INTO memory.episodes (namespace, content) SELECT 'nexus', 'text ' || n FROM generate_series(1, 50) n"
    )
    assert await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue") == 50
    await admin.execute("UPDATE memory.embeddings_queue SET state = 'done'")
    # Changing other fields, or setting the same content, enqueues nothing.
    await admin.execute("UPDATE memory.episodes SET importance = 0.9, content = content")
    assert await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue WHERE state = 'pending'") == 0
    await admin.execute("UPDATE memory.episodes SET content = content || ' changed' WHERE content = 'text 7'")
    jobs = await admin.fetch("SELECT state, priority FROM memory.embeddings_queue WHERE state = 'pending'")
    assert [(row["state"], row["priority"]) for row in jobs] == [("pending", 91)]
    assert await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue") == 50


async def test_enqueue_notifies_listeners(memory_database_url: str, admin: asyncpg.Connection) -> None:
    listener = await asyncpg.connect(memory_database_url)
    received: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(
        "cerebro_embeddings", lambda _connection, _pid, channel, _payload: received.put_nowait(channel)
    )
    try:
        await admin.execute("INSERT INTO memory.episodes (namespace, content) VALUES ('nexus', 'wake up')")
        assert await asyncio.wait_for(received.get(), 5) == "cerebro_embeddings"
    finally:
        await listener.close()


async def test_row_level_security_scopes_the_api_role(memory_database_url: str, admin: asyncpg.Connection) -> None:
    await admin.execute("INSERT INTO memory.namespaces (name) VALUES ('aria')")
    await admin.execute("INSERT INTO memory.episodes (namespace, content) VALUES ('nexus', 'n'), ('aria', 'a')")
    await admin.execute(
        "INSERT INTO memory.checkpoints (namespace, checkpoint_type, state_data, identity_hash, block_digests)"
        " VALUES ('aria', 't', '{}', repeat('0', 64), '{}')"
    )
    app = await asyncpg.connect(dsn_with_role(memory_database_url, "cerebro_memory"))
    try:
        assert await app.fetchval("SELECT current_user") == "cerebro_memory"
        # Without a declared namespace the API role sees nothing at all.
        assert await app.fetchval("SELECT count(*) FROM memory.episodes") == 0
        async with app.transaction():
            await app.execute("SELECT set_config('cerebro.namespace', 'nexus', true)")
            assert await app.fetchval("SELECT array_agg(content) FROM memory.episodes") == ["n"]
            assert await app.fetchval("SELECT count(*) FROM memory.checkpoints") == 0
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute("INSERT INTO memory.episodes (namespace, content) VALUES ('aria', 'forged')")
    finally:
        await app.close()


async def test_worker_role_cannot_delete_and_api_role_cannot_touch_the_queue(
    memory_database_url: str, admin: asyncpg.Connection
) -> None:
    await admin.execute("INSERT INTO memory.episodes (namespace, content) VALUES ('nexus', 'n')")
    worker = await asyncpg.connect(dsn_with_role(memory_database_url, "cerebro_memory_worker"))
    app = await asyncpg.connect(dsn_with_role(memory_database_url, "cerebro_memory"))
    readonly = await asyncpg.connect(dsn_with_role(memory_database_url, "cerebro_memory_reader"))
    try:
        assert await worker.fetchval("SELECT count(*) FROM memory.episodes") == 1
        for statement in (
            "DELETE FROM memory.episodes",
            "DELETE FROM memory.embeddings_queue",
            "UPDATE memory.episodes SET content = 'x'",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await worker.execute(statement)
        # The worker writes vectors into their own table (migration 0008), and nothing of the episode.
        await worker.execute(
            """INSERT INTO memory.episode_vectors (episode_id, namespace, embedding, embedding_version)
               SELECT episode_id, namespace, array_fill(0.1, ARRAY[384])::real[]::vector, 'v1' FROM memory.episodes"""
        )
        for statement in ("UPDATE memory.episodes SET updated_at = now()", "DELETE FROM memory.episode_vectors"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await worker.execute(statement)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("UPDATE memory.embeddings_queue SET state = 'done'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await readonly.execute("DELETE FROM memory.working_memory")
    finally:
        await worker.close()
        await app.close()
        await readonly.close()


async def test_role_passwords_come_from_secret_files(memory_database_url: str, tmp_path: Path) -> None:
    secret = tmp_path / "cerebro-memory-reader-password"
    secret.write_text("generated-for-this-test\n")
    passwords = role_passwords_from_env({"CEREBRO_MEMORY_READER_DATABASE_PASSWORD_FILE": str(secret)})
    assert passwords == {"cerebro_memory_reader": "generated-for-this-test"}
    await enable_role_logins(memory_database_url, passwords)
    host_part = memory_database_url.split("@", 1)[1]
    connection = await asyncpg.connect(f"postgresql://cerebro_memory_reader:generated-for-this-test@{host_part}")
    try:
        assert await connection.fetchval("SELECT current_user") == "cerebro_memory_reader"
    finally:
        await connection.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(f"postgresql://cerebro_memory_reader:not-the-password@{host_part}")
    admin = await asyncpg.connect(memory_database_url)
    try:
        # The server got a verifier, not the password.
        stored = await admin.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = 'cerebro_memory_reader'")
        assert stored.startswith("SCRAM-SHA-256$4096:") and "generated-for-this-test" not in stored
        # Roles are cluster-wide: leave cerebro_memory_reader without a login for the other tests.
        await admin.execute("ALTER ROLE cerebro_memory_reader NOLOGIN PASSWORD NULL")
    finally:
        await admin.close()


VECTOR = "array_fill($1::real, ARRAY[384])::real[]::vector"


async def test_a_content_change_or_a_delete_removes_the_vector_with_it(admin: asyncpg.Connection) -> None:
    ids = await admin.fetch(
        "INSERT INTO memory.episodes (namespace, content) SELECT 'nexus', 'text ' || n FROM generate_series(1, 3) n "
        "RETURNING episode_id"
    )
    await admin.execute(
        f"INSERT INTO memory.episode_vectors (episode_id, namespace, embedding, embedding_version) "
        f"SELECT episode_id, namespace, {VECTOR}, 'v1' FROM memory.episodes",
        0.1,
    )
    await admin.execute("UPDATE memory.embeddings_queue SET state = 'done'")
    # Not a content change: the vector stays.
    await admin.execute("UPDATE memory.episodes SET importance = 0.9 WHERE episode_id = $1", ids[0][0])
    await admin.execute("UPDATE memory.episodes SET content = 'changed' WHERE episode_id = $1", ids[1][0])
    await admin.execute("DELETE FROM memory.episodes WHERE episode_id = $1", ids[2][0])
    kept = await admin.fetch("SELECT episode_id FROM memory.episode_vectors")
    assert [row[0] for row in kept] == [ids[0][0]]
    assert await admin.fetchval("SELECT state FROM memory.embeddings_queue WHERE episode_id = $1", ids[1][0]) == (
        "pending"
    )


async def test_0008_moves_existing_vectors_forward_in_place(fresh_database_url: str) -> None:
    before = [m for m in load_migrations(MIGRATIONS_DIR) if m.version < 8]
    await apply_migrations(fresh_database_url, SCHEMA.component, before)
    admin = await asyncpg.connect(fresh_database_url)
    try:
        await admin.execute(
            "INSERT INTO memory.episodes (namespace, content) SELECT 'nexus', 'text ' || n FROM generate_series(1, 4) n"
        )
        await admin.execute("INSERT INTO memory.semantic_memories (namespace, concept) VALUES ('nexus', 'quorum')")
        await admin.execute(
            f"""UPDATE memory.episodes SET embedding = {VECTOR}, embedding_version = 'v1', embedded_at = now()
                WHERE content <> 'text 4'""",
            0.2,
        )
        await admin.execute(f"UPDATE memory.semantic_memories SET embedding = {VECTOR}, embedding_version = 'v0'", 0.3)
        expected = await admin.fetch(
            "SELECT episode_id, embedding::text FROM memory.episodes WHERE embedding IS NOT NULL ORDER BY episode_id"
        )
        applied = [migration.version for migration in await migrate(fresh_database_url)]
        assert applied[:1] == [8]
        moved = await admin.fetch(
            "SELECT episode_id, embedding::text FROM memory.episode_vectors WHERE embedding_version = 'v1' "
            "ORDER BY episode_id"
        )
        assert [tuple(row) for row in moved] == [tuple(row) for row in expected] and len(moved) == 3
        assert await admin.fetchval("SELECT embedding_version FROM memory.semantic_memory_vectors") == "v0"
        columns = await admin.fetch(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'memory' "
            "AND table_name IN ('episodes', 'semantic_memories') AND column_name LIKE 'embed%'"
        )
        assert columns == []
    finally:
        await admin.close()
