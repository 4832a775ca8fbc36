"""The BM25 term statistics (migration 0006): exact in the same transaction as the rows, under every write.

Each test compares the kept statistics (folded figures plus unfolded changes) with statistics
recomputed from the rows (`statistics_drift`), after writes through the real memory service.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator

import asyncpg
import pytest
from google.protobuf import field_mask_pb2

from cerebro.memory.v1 import episodes_pb2, namespaces_pb2, semantic_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.runtime.database import dsn_with_role
from cerebro.runtime.migrations import apply_migrations, load_migrations
from services.memory.db import MIGRATIONS_DIR, SCHEMA, migrate
from services.memory.store.text_statistics import fold_text_statistics
from tests.memory.embedder_double import EmbedderDouble
from tests.memory.helpers import (
    MemoryServer,
    running_embeddings_worker,
    running_memory_service,
    statistics_changes,
    statistics_drift,
)
from tests.support import eventually

WORDS = [
    "replica",
    "lag",
    "primary",
    "failover",
    "vacuum",
    "index",
    "planner",
    "cache",
    "eviction",
    "latency",
    "quorum",
    "lease",
]
# Folding is left to the tests that want it.
NO_FOLDING = {"CEREBRO_MEMORY_TEXT_STATISTICS_FOLD_SECONDS": "3600"}


@pytest.fixture
async def quiet_memory(
    memory_database_url: str, memory_redis_url: str, embedder: EmbedderDouble
) -> AsyncIterator[MemoryServer]:
    """The memory service without its folding timer: change rows stay until a test folds them."""
    async with running_memory_service(memory_database_url, memory_redis_url, embedder.target, NO_FOLDING) as server:
        yield server


@pytest.fixture
async def app_pool(memory_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """Connections as the memory service's role, which folds."""
    pool = await asyncpg.create_pool(dsn_with_role(memory_database_url, "cerebro_memory"), min_size=1, max_size=2)
    yield pool
    await pool.close()


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(1, 12)))


async def create(memory: MemoryServer, content: str, namespace: str = "nexus") -> episodes_pb2.Episode:
    response = await memory.stub.CreateEpisode(
        pb.CreateEpisodeRequest(namespace=namespace, episode=episodes_pb2.Episode(content=content))
    )
    return response.episode


async def collection(admin: asyncpg.Connection, namespace: str, corpus: str = "episodes") -> tuple[int, int]:
    """(rows, sum of their lengths in distinct lexemes) of a namespace's corpus as a query reads them."""
    row = await admin.fetchrow(
        """SELECT coalesce(sum(documents), 0) AS documents, coalesce(sum(total_length), 0) AS total_length FROM (
               SELECT documents, total_length FROM memory.text_collection_statistics
               WHERE corpus = $1 AND namespace = $2
               UNION ALL
               SELECT documents, total_length FROM memory.text_statistics_changes WHERE corpus = $1 AND namespace = $2
           ) AS parts""",
        corpus,
        namespace,
    )
    return row["documents"], row["total_length"]


async def test_create_update_delete_keep_the_statistics_exact(
    quiet_memory: MemoryServer, app_pool: asyncpg.Pool, admin: asyncpg.Connection
) -> None:
    memory = quiet_memory
    first = await create(memory, "The replica lag grew while the primary ran VACUUM.")
    assert await collection(admin, "nexus") == (1, 6)  # six lexemes: stop words (the, while) do not count
    assert await statistics_drift(admin) == []

    batch = await memory.stub.BatchCreateEpisodes(
        pb.BatchCreateEpisodesRequest(
            namespace="nexus",
            requests=[
                pb.CreateEpisodeRequest(episode=episodes_pb2.Episode(content=f"failover number {index} lag"))
                for index in range(30)
            ],
        )
    )
    assert await statistics_drift(admin) == []
    # A batch is one statement: one change row for its namespace.
    assert await statistics_changes(admin) == 2

    await memory.stub.UpdateEpisode(
        pb.UpdateEpisodeRequest(
            namespace="nexus",
            episode=episodes_pb2.Episode(episode_id=first.episode_id, content="quorum lost its lease"),
            update_mask=field_mask_pb2.FieldMask(paths=["content"]),
        )
    )
    assert await statistics_drift(admin) == []
    changes = await statistics_changes(admin)
    # Nothing searchable changes: nothing is recorded.
    await memory.stub.UpdateEpisode(
        pb.UpdateEpisodeRequest(
            namespace="nexus",
            episode=episodes_pb2.Episode(episode_id=first.episode_id, importance=0.9, tags=["ops"]),
            update_mask=field_mask_pb2.FieldMask(paths=["importance", "tags"]),
        )
    )
    assert await statistics_changes(admin) == changes

    for episode in batch.episodes[:10]:
        await memory.stub.DeleteEpisode(pb.DeleteEpisodeRequest(namespace="nexus", episode_id=episode.episode_id))
    assert await statistics_drift(admin) == []
    # "quorum lost its lease": 3 tokens; "failover number 7 lag": 4.
    assert await collection(admin, "nexus") == (21, 3 + 20 * 4)

    assert await fold_text_statistics(app_pool) > 0
    assert await statistics_changes(admin) == 0
    assert await statistics_drift(admin) == []


async def test_folding_keeps_every_reader_exact_and_removes_what_reached_zero(
    quiet_memory: MemoryServer, admin: asyncpg.Connection
) -> None:
    memory = quiet_memory
    created = [await create(memory, f"eviction storm {index}") for index in range(5)]
    for episode in created:
        await memory.stub.DeleteEpisode(pb.DeleteEpisodeRequest(namespace="nexus", episode_id=episode.episode_id))
    # Fold in steps of one change row: the folded figures pass through odd states, the sums never do.
    while await admin.fetchval("SELECT memory.fold_text_statistics(1)"):
        assert await statistics_drift(admin) == []
    assert await statistics_changes(admin) == 0
    assert await admin.fetchval("SELECT count(*) FROM memory.text_term_statistics") == 0
    assert await admin.fetchval("SELECT count(*) FROM memory.text_collection_statistics") == 0


async def test_concurrent_writers_in_one_namespace_neither_wait_on_each_other_nor_deadlock(
    memory: MemoryServer, admin: asyncpg.Connection
) -> None:
    rng = random.Random(5)
    texts = [sentence(rng) for _ in range(320)]

    async def writer(share: list[str]) -> None:
        for text in share:
            await create(memory, text)

    # 32 clients writing the same few words: the same lexemes in every statement.
    await asyncio.gather(*(writer(texts[index::32]) for index in range(32)))
    assert await collection(admin, "nexus") == (320, sum(len(set(text.split())) for text in texts))
    assert await statistics_drift(admin) == []


async def test_statistics_are_per_namespace(memory: MemoryServer, admin: asyncpg.Connection) -> None:
    await memory.stub.CreateNamespace(pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name="aria")))
    for index in range(20):
        await create(memory, f"cache eviction {index}", namespace="aria")
    await create(memory, "cache eviction in nexus")
    await create(memory, "planner statistics in nexus")
    assert await collection(admin, "aria") == (20, 60)
    assert await collection(admin, "nexus") == (2, 6)
    assert await statistics_drift(admin) == []
    # aria's twenty "cache" rows do not make the word common in nexus: there it is in one row of two.
    hits = await memory.stub.SearchEpisodes(
        pb.SearchEpisodesRequest(namespace="nexus", query="cache", mode=episodes_pb2.SEARCH_MODE_TEXT)
    )
    [hit] = hits.hits
    # (k1 + 1) * idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)), idf = ln(1 + (2 - 1 + 0.5) / (1 + 0.5)) = ln 2
    assert hit.text_score == pytest.approx(2.2 * math.log(2) * 1 / (1 + 1.2 * (0.25 + 0.75 * 3 / 3)))


async def test_semantic_memories_have_statistics_of_their_own(memory: MemoryServer, admin: asyncpg.Connection) -> None:
    created = await memory.stub.CreateSemanticMemory(
        pb.CreateSemanticMemoryRequest(
            namespace="nexus",
            semantic_memory=semantic_pb2.SemanticMemory(concept="quorum", definition="two thirds of the votes"),
        )
    )
    await create(memory, "a quorum of agents")
    assert await collection(admin, "nexus", "semantic_memories") == (1, 4)  # quorum two third vote
    await memory.stub.UpdateSemanticMemory(
        pb.UpdateSemanticMemoryRequest(
            namespace="nexus",
            semantic_memory=semantic_pb2.SemanticMemory(
                semantic_memory_id=created.semantic_memory.semantic_memory_id, definition="a majority"
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["definition"]),
        )
    )
    await memory.stub.DeleteSemanticMemory(
        pb.DeleteSemanticMemoryRequest(namespace="nexus", semantic_memory_id=created.semantic_memory.semantic_memory_id)
    )
    assert await collection(admin, "nexus", "semantic_memories") == (0, 0)
    assert await statistics_drift(admin) == []


async def test_storing_vectors_records_nothing(
    quiet_memory: MemoryServer,
    app_pool: asyncpg.Pool,
    memory_database_url: str,
    embedder: EmbedderDouble,
    admin: asyncpg.Connection,
) -> None:
    memory = quiet_memory
    for index in range(12):
        await create(memory, f"latency budget {index}")
    await memory.stub.CreateSemanticMemory(
        pb.CreateSemanticMemoryRequest(
            namespace="nexus", semantic_memory=semantic_pb2.SemanticMemory(concept="lease", definition="a lock in time")
        )
    )
    await fold_text_statistics(app_pool)
    async with running_embeddings_worker(memory_database_url, embedder.target):

        async def embedded() -> bool:
            return not await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue WHERE state <> 'done'")

        await eventually(embedded)
    assert await statistics_changes(admin) == 0
    assert await statistics_drift(admin) == []


async def test_truncate_forgets_the_corpus(memory: MemoryServer, admin: asyncpg.Connection) -> None:
    await create(memory, "index bloat")
    await admin.execute("TRUNCATE memory.episodes CASCADE")
    assert await collection(admin, "nexus") == (0, 0)
    assert await statistics_drift(admin) == []


async def test_the_api_roles_cannot_read_the_statistics(memory_database_url: str) -> None:
    # Another namespace's words and counts are visible only through the ranking functions' results.
    connection = await asyncpg.connect(memory_database_url)
    try:
        for role in ("cerebro_memory", "cerebro_memory_reader", "cerebro_memory_worker"):
            for table in ("text_term_statistics", "text_collection_statistics", "text_statistics_changes"):
                async with connection.transaction():
                    await connection.execute(f"SET LOCAL ROLE {role}")
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await connection.fetch(f"SELECT * FROM memory.{table}")
    finally:
        await connection.close()


async def test_the_migration_counts_the_rows_already_stored(fresh_database_url: str) -> None:
    migrations = load_migrations(MIGRATIONS_DIR)
    before = [migration for migration in migrations if migration.version < 6]
    await apply_migrations(fresh_database_url, SCHEMA.component, before)
    connection = await asyncpg.connect(fresh_database_url)
    try:
        rng = random.Random(9)
        await connection.execute(
            "INSERT INTO memory.episodes (namespace, content) SELECT 'nexus', unnest($1::text[])",
            [sentence(rng) for _ in range(200)],
        )
        await connection.execute(
            "INSERT INTO memory.semantic_memories (namespace, concept, definition) VALUES ('nexus', 'lag', 'a delay')"
        )
        await migrate(fresh_database_url)
        assert await statistics_drift(connection) == []
        assert await statistics_changes(connection) == 0
    finally:
        await connection.close()
