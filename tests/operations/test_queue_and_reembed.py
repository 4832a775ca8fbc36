"""`cerebro queue` and `cerebro reembed` with the real embeddings worker and a real gRPC Embedder double."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg

from services.operations import queue_admin, reembed
from tests.memory.embedder_double import POISON, EmbedderDouble
from tests.memory.helpers import running_embeddings_worker, statistics_changes, statistics_drift
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[2]
ONE_ATTEMPT = {"CEREBRO_EMBEDDINGS_WORKER_MAX_ATTEMPTS": "1"}


async def _episode(connection: asyncpg.Connection, content: str) -> uuid.UUID:
    return await connection.fetchval(
        "INSERT INTO memory.episodes (namespace, content) VALUES ('nexus', $1) RETURNING episode_id", content
    )


async def _states(connection: asyncpg.Connection) -> dict[str, int]:
    return {s.state: s.jobs for s in await queue_admin.summary(connection)}


def _cerebro(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CEREBRO_")}
    return subprocess.run(
        [sys.executable, "-m", "cerebro", *arguments],
        env={**clean, **environment},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_queue_shows_dead_jobs_and_requeues_them(
    cerebro_url: str, cerebro: asyncpg.Connection, embedder: EmbedderDouble
) -> None:
    fine = [await _episode(cerebro, f"recuerdo {index}") for index in range(3)]
    poisoned = [await _episode(cerebro, f"{POISON} {index}") for index in range(2)]
    async with running_embeddings_worker(cerebro_url, embedder.target, ONE_ATTEMPT):

        async def settled() -> bool:
            return await _states(cerebro) == {"pending": 0, "processing": 0, "done": 3, "dead": 2}

        await eventually(settled)
    summary = await queue_admin.summary(cerebro)
    assert [s.state for s in summary] == ["pending", "processing", "done", "dead"]
    assert all(s.oldest is not None for s in summary if s.jobs)
    assert await queue_admin.summary(cerebro, "no-such-namespace") == [
        queue_admin.StateSummary(state, 0, None) for state in queue_admin.STATES
    ]
    dead = await queue_admin.dead_jobs(cerebro, limit=10)
    assert sorted(job.episode_id for job in dead) == sorted(poisoned)
    assert all("poisoned" in (job.last_error or "") and job.attempts == 1 for job in dead)

    environment = {"CEREBRO_DATABASE_URL": cerebro_url}
    listing = await asyncio.to_thread(_cerebro, environment, "queue")
    assert listing.returncode == 0, listing.stderr
    assert "  done                3" in listing.stdout and "  dead                2" in listing.stdout
    assert listing.stdout.count("the double refuses poisoned text") == 2

    done_job = await cerebro.fetchval("SELECT job_id FROM memory.embeddings_queue WHERE episode_id = $1", fine[0])
    first, second = sorted(job.job_id for job in dead)
    result = await queue_admin.requeue_dead(cerebro, [first, done_job, 987654321])
    assert result.requeued == [first]
    assert result.not_requeued == {done_job: "is done, not dead", 987654321: "no such job"}
    job = await cerebro.fetchrow(
        "SELECT state, attempts, last_error FROM memory.embeddings_queue WHERE job_id = $1", first
    )
    assert (job["state"], job["attempts"]) == ("pending", 0) and "poisoned" in job["last_error"]

    usage = await asyncio.to_thread(_cerebro, environment, "queue", "requeue")
    assert usage.returncode == 2
    everything = await asyncio.to_thread(_cerebro, environment, "queue", "requeue", "--all")
    assert everything.returncode == 0 and f"requeued 1 dead jobs: [{second}]" in everything.stdout
    assert await _states(cerebro) == {"pending": 2, "processing": 0, "done": 3, "dead": 0}


async def test_reembed_requeues_exactly_the_stale_rows_and_follows_the_worker(
    cerebro_url: str, cerebro: asyncpg.Connection, embedder: EmbedderDouble
) -> None:
    embedder.version = "double@v1"
    stale_episodes = [await _episode(cerebro, f"episodio {index}") for index in range(6)]
    stale_semantic = [
        await cerebro.fetchval(
            "INSERT INTO memory.semantic_memories (namespace, concept, definition) VALUES ('nexus', $1, 'x')"
            " RETURNING semantic_memory_id",
            concept,
        )
        for concept in ("pgvector", "Letta")
    ]
    async with running_embeddings_worker(cerebro_url, embedder.target):

        async def embedded() -> bool:
            return (await _states(cerebro))["done"] == 8

        await eventually(embedded)
    # A stale row without a job (restored with its vector), and one whose job died.
    await cerebro.execute("DELETE FROM memory.embeddings_queue WHERE episode_id = $1", stale_episodes[4])
    await cerebro.execute(
        "UPDATE memory.embeddings_queue SET state = 'dead', last_error = 'x', completed_at = now()"
        " WHERE episode_id = $1",
        stale_episodes[5],
    )
    # Rows already of the new version (written with their vector: no job), and one still waiting.
    fresh = [await _episode(cerebro, f"fresco {index}") for index in range(2)]
    await cerebro.execute(
        """INSERT INTO memory.episode_vectors (episode_id, namespace, embedding, embedding_version)
           SELECT episode_id, namespace, array_fill(0.1, ARRAY[384])::vector, 'double@v2'
           FROM memory.episodes WHERE episode_id = ANY($1::uuid[])""",
        fresh,
    )
    await cerebro.execute("DELETE FROM memory.embeddings_queue WHERE episode_id = ANY($1::uuid[])", fresh)
    waiting = await _episode(cerebro, "todavía sin vector")
    waiting_job = await cerebro.fetchrow("SELECT * FROM memory.embeddings_queue WHERE episode_id = $1", waiting)

    embedder.version = "double@v2"
    changes = await statistics_changes(cerebro)
    batches: list[int] = []
    outcome = await reembed.requeue_stale(cerebro, "double@v2", batch_size=2, on_batch=batches.append)
    assert outcome.stale == {"episodes": 6, "semantic memories": 2}
    assert outcome.requeued == 8
    assert sum(batches) == 8
    requeued = await cerebro.fetch(
        "SELECT episode_id, semantic_memory_id FROM memory.embeddings_queue WHERE state = 'pending' AND priority = 0"
    )
    assert sorted(str(row["episode_id"] or row["semantic_memory_id"]) for row in requeued) == sorted(
        map(str, stale_episodes + stale_semantic)
    )
    assert (
        await cerebro.fetchval("SELECT count(*) FROM memory.embeddings_queue WHERE episode_id = ANY($1::uuid[])", fresh)
        == 0
    )
    assert await cerebro.fetchrow("SELECT * FROM memory.embeddings_queue WHERE episode_id = $1", waiting) == waiting_job
    assert await reembed.remaining(cerebro, "double@v2") == reembed.Remaining(stale=8, dead=0)

    seen: list[int] = []
    async with running_embeddings_worker(cerebro_url, embedder.target):
        left = await reembed.follow_draining(
            cerebro, "double@v2", lambda r: seen.append(r.stale), poll_seconds=0.1, timeout_seconds=30
        )
    assert left == reembed.Remaining(stale=0, dead=0)
    assert seen[-1] == 0 and seen == sorted(seen, reverse=True)
    versions = await cerebro.fetch(
        "SELECT DISTINCT embedding_version FROM memory.episode_vectors UNION SELECT DISTINCT embedding_version"
        " FROM memory.semantic_memory_vectors"
    )
    assert {row["embedding_version"] for row in versions} == {"double@v2"}
    # New vectors, the same text: the text statistics recorded nothing and are still exact.
    assert await statistics_changes(cerebro) == changes
    assert await statistics_drift(cerebro) == []


async def test_reembed_command(cerebro_url: str, cerebro: asyncpg.Connection, embedder: EmbedderDouble) -> None:
    for index in range(3):
        await _episode(cerebro, f"episodio {index}")
    async with running_embeddings_worker(cerebro_url, embedder.target):

        async def embedded() -> bool:
            return (await _states(cerebro))["done"] == 3

        await eventually(embedded)
    embedder.version = "double@v9"
    environment = {"CEREBRO_DATABASE_URL": cerebro_url, "CEREBRO_EMBEDDER_TARGET": embedder.target}
    timed_out = await asyncio.to_thread(_cerebro, environment, "reembed", "--timeout", "1")
    assert timed_out.returncode == 1, timed_out.stderr
    assert "Embedder embedding version: double@v9" in timed_out.stdout
    assert "3 episodes, 0 semantic memories; 3 queued" in timed_out.stdout
    assert "timed out: is the embeddings worker running?" in timed_out.stdout
    assert timed_out.stderr == ""  # no progress bar off a terminal

    async with running_embeddings_worker(cerebro_url, embedder.target):
        finished = await asyncio.to_thread(_cerebro, environment, "reembed")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "done: every vector has embedding version double@v9" in finished.stdout

    embedder.version = "double@v10"
    no_wait = await asyncio.to_thread(_cerebro, environment, "reembed", "--no-wait")
    assert no_wait.returncode == 0 and "3 queued for re-embedding" in no_wait.stdout
    unreachable = await asyncio.to_thread(
        _cerebro, {**environment, "CEREBRO_EMBEDDER_TARGET": "127.0.0.1:1"}, "reembed"
    )
    assert unreachable.returncode == 1 and "cannot read the Embedder's model" in unreachable.stderr
