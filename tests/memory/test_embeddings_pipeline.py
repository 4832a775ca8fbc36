"""The embedding pipeline end to end: real PostgreSQL, the worker's loops, gRPC to an Embedder double.

These tests use `tests.memory.embedder_double.EmbedderDouble` (a real gRPC EmbedderService with
deterministic vectors) so they can hold, poison, version and stop the Embedder.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import asyncpg
import pytest
from google.protobuf import field_mask_pb2

from cerebro.memory.v1 import episodes_pb2, semantic_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from tests.memory.embedder_double import POISON, EmbedderDouble, vector_of
from tests.memory.helpers import MemoryServer, running_embeddings_worker, worker_environ
from tests.support import eventually, free_port

REPOSITORY = Path(__file__).resolve().parents[2]


async def create_episodes(memory: MemoryServer, contents: list[str]) -> list[episodes_pb2.Episode]:
    requests = [pb.CreateEpisodeRequest(episode=episodes_pb2.Episode(content=content)) for content in contents]
    response = await memory.stub.BatchCreateEpisodes(
        pb.BatchCreateEpisodesRequest(namespace="nexus", requests=requests)
    )
    return list(response.episodes)


async def coverage_complete(memory: MemoryServer) -> bool:
    stats = await memory.stub.GetStats(pb.GetStatsRequest(namespace="nexus"))
    return stats.embedding_coverage_percent == 100.0 and stats.queue_pending == 0 and stats.queue_processing == 0


async def test_every_episode_is_embedded_exactly_once(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble, admin: asyncpg.Connection
) -> None:
    contents = [f"episode number {index} about memory" for index in range(300)]
    episodes = await create_episodes(memory, contents)
    concept = await memory.stub.CreateSemanticMemory(
        pb.CreateSemanticMemoryRequest(
            namespace="nexus", semantic_memory=semantic_pb2.SemanticMemory(concept="RRF", definition="rank fusion")
        )
    )
    before = await memory.stub.GetStats(pb.GetStatsRequest(namespace="nexus"))
    assert before.episodes_total == 300 and before.episodes_embedded == 0 and before.queue_pending == 301

    async with running_embeddings_worker(memory_database_url, embedder.target):
        await eventually(lambda: coverage_complete(memory))
        await eventually(lambda: _semantic_embedded(memory, concept.semantic_memory.semantic_memory_id))

    assert Counter(embedder.embedded_texts) == Counter([*contents, "RRF\nrank fusion"])
    full = await memory.stub.GetEpisode(
        pb.GetEpisodeRequest(namespace="nexus", episode_id=episodes[7].episode_id, view=episodes_pb2.EPISODE_VIEW_FULL)
    )
    assert full.episode.embedding_state == episodes_pb2.EMBEDDING_STATE_EMBEDDED
    assert full.episode.embedding_version == embedder.version
    assert list(full.episode.embedding) == pytest.approx(vector_of(contents[7]), abs=1e-6)
    assert await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue WHERE state <> 'done'") == 0
    assert await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue") == 301


async def _semantic_embedded(memory: MemoryServer, semantic_memory_id: str) -> bool:
    response = await memory.stub.GetSemanticMemory(
        pb.GetSemanticMemoryRequest(namespace="nexus", semantic_memory_id=semantic_memory_id)
    )
    return response.semantic_memory.embedding_state == episodes_pb2.EMBEDDING_STATE_EMBEDDED


async def _episode_state(memory: MemoryServer, episode_id: str) -> episodes_pb2.Episode:
    return (await memory.stub.GetEpisode(pb.GetEpisodeRequest(namespace="nexus", episode_id=episode_id))).episode


async def _is_embedded(memory: MemoryServer, episode_id: str) -> bool:
    return (await _episode_state(memory, episode_id)).embedding_state == episodes_pb2.EMBEDDING_STATE_EMBEDDED


async def test_notify_wakes_the_worker_without_waiting_for_a_poll(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble
) -> None:
    async with running_embeddings_worker(
        memory_database_url, embedder.target, {"CEREBRO_EMBEDDINGS_WORKER_POLL_SECONDS": "3600"}
    ):
        await asyncio.sleep(0.5)  # the worker has polled once and now waits for a notification
        [created] = await create_episodes(memory, ["wake the worker"])
        await eventually(lambda: _is_embedded(memory, created.episode_id), timeout=10)


async def test_notifications_resume_after_the_listening_connection_is_killed(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble, admin: asyncpg.Connection
) -> None:
    listeners = "SELECT pid FROM pg_stat_activity WHERE application_name = 'cerebro embeddings-worker listener'"
    async with running_embeddings_worker(
        memory_database_url, embedder.target, {"CEREBRO_EMBEDDINGS_WORKER_POLL_SECONDS": "3600"}
    ):
        await eventually(lambda: _is_listening(admin, listeners))
        [killed] = await admin.fetch(listeners)
        await admin.execute("SELECT pg_terminate_backend($1)", killed["pid"])
        await eventually(lambda: _is_listening(admin, listeners, other_than=killed["pid"]))
        [created] = await create_episodes(memory, ["heard after the reconnect"])
        await eventually(lambda: _is_embedded(memory, created.episode_id), timeout=10)


async def _is_listening(admin: asyncpg.Connection, listeners: str, other_than: int | None = None) -> bool:
    return any(row["pid"] != other_than for row in await admin.fetch(listeners))


async def test_a_worker_stops_when_asked_while_postgres_never_answered(embedder: EmbedderDouble) -> None:
    unreachable = f"postgresql://cerebro@127.0.0.1:{free_port()}/cerebro"
    # The worker keeps trying to migrate; leaving the block stops it, within the timeout or the test fails.
    async with asyncio.timeout(10), running_embeddings_worker(unreachable, embedder.target) as worker:
        await asyncio.sleep(1)
        assert not worker.done()
    assert worker.done() and worker.exception() is None


async def test_content_change_drops_the_old_vector_and_reembeds(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble
) -> None:
    async with running_embeddings_worker(memory_database_url, embedder.target):
        [created] = await create_episodes(memory, ["first words"])
        await eventually(lambda: coverage_complete(memory))
        updated = await memory.stub.UpdateEpisode(
            pb.UpdateEpisodeRequest(
                namespace="nexus",
                episode=episodes_pb2.Episode(episode_id=created.episode_id, content="second words"),
                update_mask=field_mask_pb2.FieldMask(paths=["content"]),
            )
        )
        assert updated.episode.embedding_state == episodes_pb2.EMBEDDING_STATE_PENDING
        await eventually(lambda: coverage_complete(memory))
    full = await memory.stub.GetEpisode(
        pb.GetEpisodeRequest(namespace="nexus", episode_id=created.episode_id, view=episodes_pb2.EPISODE_VIEW_FULL)
    )
    assert list(full.episode.embedding) == pytest.approx(vector_of("second words"), abs=1e-6)
    assert embedder.embedded_texts == ["first words", "second words"]


async def test_edit_during_embedding_never_stores_a_stale_vector(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble, admin: asyncpg.Connection
) -> None:
    embedder.hold()
    async with running_embeddings_worker(memory_database_url, embedder.target):
        [created] = await create_episodes(memory, ["old text"])
        await eventually(lambda: _is(embedder.waiting >= 1))
        await memory.stub.UpdateEpisode(
            pb.UpdateEpisodeRequest(
                namespace="nexus",
                episode=episodes_pb2.Episode(episode_id=created.episode_id, content="new text"),
                update_mask=field_mask_pb2.FieldMask(paths=["content"]),
            )
        )
        embedder.release()
        await eventually(lambda: coverage_complete(memory))
    full = await memory.stub.GetEpisode(
        pb.GetEpisodeRequest(namespace="nexus", episode_id=created.episode_id, view=episodes_pb2.EPISODE_VIEW_FULL)
    )
    assert list(full.episode.embedding) == pytest.approx(vector_of("new text"), abs=1e-6)
    assert await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue") == 1


async def _is(value: bool) -> bool:
    return value


async def test_embedder_down_jobs_wait_without_using_attempts_then_complete(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble, admin: asyncpg.Connection
) -> None:
    await embedder.stop()
    async with running_embeddings_worker(
        memory_database_url, embedder.target, {"CEREBRO_EMBEDDINGS_WORKER_MAX_ATTEMPTS": "2"}
    ):
        await create_episodes(memory, [f"while the embedder is down {index}" for index in range(20)])
        await eventually(lambda: _has_released(admin))
        await asyncio.sleep(1.0)  # several polls with the Embedder down
        states = await admin.fetch("SELECT state, attempts FROM memory.embeddings_queue")
        # A claim may be in flight when we look (counted while it is out, given back uncounted); with
        # MAX_ATTEMPTS 2, attempts that counted would have killed the jobs by now.
        assert {(row["state"], row["attempts"]) for row in states} <= {("pending", 0), ("processing", 1)}
        await embedder.start()
        await eventually(lambda: coverage_complete(memory), timeout=60)
    stats = await memory.stub.GetStats(pb.GetStatsRequest(namespace="nexus"))
    assert stats.queue_dead == 0 and stats.episodes_embedded == 20


async def _has_released(admin: asyncpg.Connection) -> bool:
    return (
        await admin.fetchval(
            "SELECT count(*) FROM memory.embeddings_queue WHERE last_error LIKE 'Embedder EmbedBatch failed%'"
        )
        > 0
    )


async def test_failing_text_dies_after_the_last_attempt_and_spares_the_others(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble, admin: asyncpg.Connection
) -> None:
    contents = ["healthy one", f"this is a {POISON}", "healthy two"]
    episodes = await create_episodes(memory, contents)
    async with running_embeddings_worker(
        memory_database_url, embedder.target, {"CEREBRO_EMBEDDINGS_WORKER_MAX_ATTEMPTS": "3"}
    ):

        async def settled() -> bool:
            stats = await memory.stub.GetStats(pb.GetStatsRequest(namespace="nexus"))
            return stats.queue_dead == 1 and stats.episodes_embedded == 2

        await eventually(settled)
    poisoned = await _episode_state(memory, episodes[1].episode_id)
    assert poisoned.embedding_state == episodes_pb2.EMBEDDING_STATE_FAILED
    job = await admin.fetchrow("SELECT attempts, last_error FROM memory.embeddings_queue WHERE state = 'dead'")
    assert job["attempts"] == 3
    assert "INVALID_ARGUMENT" in job["last_error"]


async def test_jobs_of_a_killed_worker_are_reclaimed_and_finished_once(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble, admin: asyncpg.Connection
) -> None:
    contents = [f"killed mid batch {index}" for index in range(40)]
    await create_episodes(memory, contents)
    embedder.hold()
    environ = {
        **os.environ,
        # The held EmbedBatch call must outlive the kill: a long Embedder deadline, a short lease.
        **worker_environ(
            memory_database_url,
            embedder.target,
            {
                "CEREBRO_EMBEDDINGS_WORKER_LEASE_SECONDS": "2",
                "CEREBRO_EMBEDDINGS_WORKER_EMBEDDER_TIMEOUT_SECONDS": "600",
            },
        ),
        "PYTHONPATH": str(REPOSITORY),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.memory.embeddings_worker"],
        cwd=REPOSITORY,
        env=environ,
        stderr=subprocess.DEVNULL,
    )
    try:
        await eventually(lambda: _is(embedder.waiting >= 1), timeout=60)
        claimed = await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue WHERE state = 'processing'")
        assert claimed > 0
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    embedder.release()
    async with running_embeddings_worker(
        memory_database_url, embedder.target, {"CEREBRO_EMBEDDINGS_WORKER_LEASE_SECONDS": "2"}
    ):
        await eventually(lambda: coverage_complete(memory), timeout=60)
    rows = await admin.fetch("SELECT state, attempts, last_error FROM memory.embeddings_queue")
    assert len(rows) == 40 and {row["state"] for row in rows} == {"done"}
    reclaimed = [row for row in rows if row["attempts"] == 2]
    assert len(reclaimed) == claimed
    stored = await admin.fetch("SELECT content FROM memory.episodes JOIN memory.episode_vectors USING (episode_id)")
    assert sorted(row["content"] for row in stored) == sorted(contents)


async def test_vectors_of_an_older_embedding_version_are_reembedded(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble, admin: asyncpg.Connection
) -> None:
    await create_episodes(memory, [f"versioned {index}" for index in range(10)])
    async with running_embeddings_worker(memory_database_url, embedder.target):
        await eventually(lambda: coverage_complete(memory))
    embedder.version = "double-bow-384@2"
    async with running_embeddings_worker(memory_database_url, embedder.target):

        async def all_new_version() -> bool:
            versions = await admin.fetch("SELECT DISTINCT embedding_version FROM memory.episode_vectors")
            return [row["embedding_version"] for row in versions] == ["double-bow-384@2"]

        await eventually(all_new_version)
    assert len(embedder.embedded_texts) == 20


async def test_rows_deleted_while_queued_leave_no_jobs(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble, admin: asyncpg.Connection
) -> None:
    episodes = await create_episodes(memory, ["soon gone", "stays"])
    await memory.stub.DeleteEpisode(pb.DeleteEpisodeRequest(namespace="nexus", episode_id=episodes[0].episode_id))
    async with running_embeddings_worker(memory_database_url, embedder.target):
        await eventually(lambda: coverage_complete(memory))
    assert embedder.embedded_texts == ["stays"]
    assert await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue") == 1


async def test_a_stopping_worker_gives_its_claims_back_at_once(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble, admin: asyncpg.Connection
) -> None:
    await create_episodes(memory, [f"interrupted {index}" for index in range(5)])
    embedder.hold()
    async with running_embeddings_worker(
        memory_database_url, embedder.target, {"CEREBRO_EMBEDDINGS_WORKER_EMBEDDER_TIMEOUT_SECONDS": "600"}
    ) as worker:
        await eventually(lambda: _is(embedder.waiting >= 1))
    assert worker.done()
    rows = await admin.fetch("SELECT state, attempts, claim_token FROM memory.embeddings_queue")
    assert {(row["state"], row["attempts"], row["claim_token"]) for row in rows} == {("pending", 0, None)}
    embedder.release()
