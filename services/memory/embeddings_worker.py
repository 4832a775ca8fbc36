"""The embeddings worker process (`cerebro serve embeddings-worker`): drains the embeddings queue.

LISTEN/NOTIFY wakes it as soon as a job is enqueued; polling every few seconds is only the fallback
(and what picks up retries whose backoff ran out). Several claim-embed-store loops run at once so the
Embedder always has the next batch waiting. While the Embedder is down, claims are given back
without counting an attempt and the worker backs off. A batch that fails while the Embedder is up is
retried text by text; a text that still fails uses up an attempt and dies after the last one.
Expired leases are reclaimed, and vectors of an older embedding version are re-embedded in the
background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from cerebro.runtime.config import ServiceSettings
from cerebro.runtime.database import dsn_with_role, require_database_url
from cerebro.runtime.leased_queue import Claim, LeasedQueue, RetryPolicy
from cerebro.runtime.notifications import Listener
from cerebro.runtime.process import run_process, run_worker
from services.memory.db import open_worker_pool
from services.memory.embedder_client import EmbedderClient, EmbedderError
from services.memory.settings import EmbeddingsWorkerSettings
from services.memory.store import embedding_queue
from services.memory.store.embedding_queue import EMBEDDINGS_QUEUE, ClaimedJob

log = logging.getLogger(__name__)

MAINTENANCE_INTERVAL_SECONDS = 1.0
MODEL_CHECK_INTERVAL_SECONDS = 60.0
# Counting every episode is a scan: the coverage gauge is refreshed at this pace, not every maintenance round.
COVERAGE_INTERVAL_SECONDS = 30.0
MAX_EMBEDDER_BACKOFF_SECONDS = 30.0
# PostgreSQL away (or restarting): wait and try again. InternalClientError is what asyncpg raises on a
# connection broken mid-operation ("cannot switch to state ..."), as the runtime's error mapping knows.
DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)

PROCESSED = Counter("embeddings_processed_total", "Embedding jobs completed (vector stored, job done).")
QUEUE_DEPTH = Gauge("embeddings_queue_depth", "Embedding jobs waiting in the pending state.")
LATENCY = Histogram(
    "embeddings_processing_latency_seconds",
    "Time from claiming an embedding job to completing it.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
DEAD = Counter("embeddings_dead_total", "Embedding jobs moved to the dead-letter state.")
RETRIES = Counter("worker_retry_total", "Embedding job attempts that failed and were scheduled again.")
RECLAIMED = Counter("embeddings_reclaimed_total", "Embedding jobs taken back from a worker whose lease expired.")
COVERAGE = Gauge(
    "memory_embedding_coverage_ratio",
    "Episodes with an embedding over all episodes, every namespace (1 when there is none).",
)


async def embedding_coverage(pool: asyncpg.Pool) -> float:
    """Embedded episodes over all episodes of every namespace; 1.0 when there is none (nothing is missing)."""
    row = await pool.fetchrow(
        """SELECT (SELECT count(*) FROM memory.episodes) AS total,
                  (SELECT count(*) FROM memory.episode_vectors) AS embedded"""
    )
    assert row is not None  # an aggregate makes one row
    return 1.0 if row["total"] == 0 else row["embedded"] / row["total"]


class EmbeddingsWorker:
    def __init__(
        self, pool: asyncpg.Pool, queue: LeasedQueue, embedder: EmbedderClient, settings: EmbeddingsWorkerSettings
    ) -> None:
        # The worker's role sees every namespace.
        self._pool = pool
        self._queue = queue
        self._embedder = embedder
        self._settings = settings
        self._wake = asyncio.Event()
        self._embedder_ok = asyncio.Event()
        self._embedder_ok.set()
        self._batch_size = settings.batch_size
        self._embedding_version: str | None = None
        # True from a newly seen embedding version until no outdated vector is left to requeue.
        self._outdated_left = False
        self._recovery: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        loops = [self._process_forever(stop) for _ in range(self._settings.concurrency)]
        try:
            await asyncio.gather(*loops, self._maintain_forever(stop))
        finally:
            if self._recovery is not None:
                await _stop_task(self._recovery)

    async def _sleep(self, stop: asyncio.Event, event: asyncio.Event, seconds: float) -> None:
        """Wait for ``event`` or ``stop`` for at most ``seconds``."""
        waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _process_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not self._embedder_ok.is_set():
                await self._sleep(stop, self._embedder_ok, self._settings.poll_interval_seconds)
                continue
            # Cleared before claiming: a notification that arrives during the claim is not lost.
            self._wake.clear()
            try:
                claim, jobs = await self._claim()
            except DATABASE_ERRORS as error:
                log.warning("cannot claim embedding jobs: %s", error)
                await self._sleep(stop, stop, self._settings.poll_interval_seconds)
                continue
            if not claim.keys:
                await self._sleep(stop, self._wake, self._settings.poll_interval_seconds)
                continue
            await self._process(claim, jobs, stop)

    async def _claim(self) -> tuple[Claim, list[ClaimedJob]]:
        async with self._pool.acquire() as connection:
            claim = await self._queue.claim(connection, self._batch_size)
            return claim, await embedding_queue.claimed_jobs(connection, claim)

    async def _process(self, claim: Claim, jobs: list[ClaimedJob], stop: asyncio.Event) -> None:
        started = time.monotonic()
        keep_leased = asyncio.create_task(self._extend_lease_until_done(claim))
        work = asyncio.create_task(self._embed_and_store(claim, jobs))
        stopping = asyncio.create_task(stop.wait())
        done = 0
        try:
            await asyncio.wait([work, stopping], return_when=asyncio.FIRST_COMPLETED)
            if work.done():
                done = work.result()
            else:
                # Shutting down: give the claim back now instead of waiting for a slow Embedder.
                await _stop_task(work)
                released = await self._queue.release(self._pool, claim, "worker stopped before finishing the batch")
                log.info("stopping: %d embedding jobs given back", released)
        except DATABASE_ERRORS as error:
            # PostgreSQL failed: nothing was stored; the lease runs out and the jobs are reclaimed.
            log.warning("embedding batch not finished, PostgreSQL failed: %s", error)
        finally:
            await _stop_task(keep_leased)
            await _stop_task(stopping)
        elapsed = time.monotonic() - started
        for _ in range(done):
            LATENCY.observe(elapsed)

    async def _extend_lease_until_done(self, claim: Claim) -> None:
        interval = self._settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self._queue.extend_lease(self._pool, claim)
            except DATABASE_ERRORS as error:
                log.warning("cannot extend the lease of an embedding batch: %s", error)

    async def _embed_and_store(self, claim: Claim, jobs: list[ClaimedJob]) -> int:
        """Embed ``jobs`` and store the vectors; returns how many jobs were completed."""
        try:
            embedded = await self._embedder.embed_batch([job.text for job in jobs])
        except EmbedderError as error:
            return await self._handle_failure(claim, jobs, error)
        async with self._pool.acquire() as connection, connection.transaction():
            # Completing first locks the jobs' queue rows, which a content change or a delete also
            # writes: a job whose content changed meanwhile is no longer this claim's (it stays pending)
            # and gets no vector, and a later change waits for this commit (migration 0008).
            done = await self._queue.complete(connection, claim, [job.job_id for job in jobs])
            completed = set(done)
            await embedding_queue.store_vectors(
                connection,
                [(job, vector) for job, vector in zip(jobs, embedded.vectors, strict=True) if job.job_id in completed],
                embedded.embedding_version,
            )
        PROCESSED.inc(len(done))
        return len(done)

    async def _handle_failure(self, claim: Claim, jobs: list[ClaimedJob], error: EmbedderError) -> int:
        """Release, split or fail ``jobs`` after ``error``; returns how many jobs were completed anyway."""
        if error.transient and not await self._embedder_answers():
            released = await self._queue.release(self._pool, claim, str(error))
            log.warning("Embedder unavailable; %d jobs released without counting an attempt: %s", released, error)
            self._pause_for_embedder()
            return 0
        if len(jobs) > 1:
            # The Embedder is up, so something in this batch is at fault (a bad text, or one too big for
            # the deadline): embed the texts one by one, so only the culprit uses up its attempts.
            return sum([await self._embed_and_store(claim, [job]) for job in jobs])
        outcome = await self._queue.fail(self._pool, claim, [job.job_id for job in jobs], str(error))
        RETRIES.inc(outcome.retried)
        DEAD.inc(outcome.dead)
        log.warning(
            "embedding of %d jobs failed (%d to retry, %d dead): %s", len(jobs), outcome.retried, outcome.dead, error
        )
        return 0

    async def _embedder_answers(self) -> bool:
        try:
            await self._embedder.model_info()
        except EmbedderError:
            return False
        return True

    def _pause_for_embedder(self) -> None:
        if self._embedder_ok.is_set():
            self._embedder_ok.clear()
            self._recovery = asyncio.create_task(self._wait_for_embedder())

    async def _wait_for_embedder(self) -> None:
        delay = self._settings.poll_interval_seconds
        while not await self._embedder_answers():
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_EMBEDDER_BACKOFF_SECONDS)
        log.info("Embedder is back; resuming")
        self._embedder_ok.set()

    async def _maintain_forever(self, stop: asyncio.Event) -> None:
        last_model_check = -MODEL_CHECK_INTERVAL_SECONDS
        last_coverage = -COVERAGE_INTERVAL_SECONDS
        while not stop.is_set():
            try:
                reclaimed = await self._queue.reclaim_expired(self._pool)
                if reclaimed.retried or reclaimed.dead:
                    RECLAIMED.inc(reclaimed.retried + reclaimed.dead)
                    DEAD.inc(reclaimed.dead)
                    log.warning(
                        "reclaimed %d expired embedding jobs (%d dead)",
                        reclaimed.retried + reclaimed.dead,
                        reclaimed.dead,
                    )
                    self.wake()
                if time.monotonic() - last_model_check >= MODEL_CHECK_INTERVAL_SECONDS and self._embedder_ok.is_set():
                    last_model_check = time.monotonic()
                    await self._check_model()
                if self._outdated_left and self._embedding_version is not None:
                    await self._requeue_outdated(self._embedding_version)
                QUEUE_DEPTH.set(await self._queue.pending_count(self._pool))
                if time.monotonic() - last_coverage >= COVERAGE_INTERVAL_SECONDS:
                    last_coverage = time.monotonic()
                    COVERAGE.set(await embedding_coverage(self._pool))
            except DATABASE_ERRORS as error:
                log.warning("queue maintenance failed: %s", error)
            await self._sleep(stop, stop, min(MAINTENANCE_INTERVAL_SECONDS, self._settings.lease_seconds / 2))

    async def _check_model(self) -> None:
        try:
            info = await self._embedder.model_info()
        except EmbedderError as error:
            log.warning("cannot read the Embedder's model info: %s", error)
            return
        if info.embedding_version != self._embedding_version:
            log.info("Embedder embedding version is %s", info.embedding_version)
            self._outdated_left = True
        self._embedding_version = info.embedding_version
        self._batch_size = max(1, min(self._settings.batch_size, info.max_batch_texts))

    async def _requeue_outdated(self, embedding_version: str) -> None:
        """Requeue one batch of vectors of another embedding version (lowest priority: new content first)."""
        limit = self._settings.reembed_batch_size
        async with self._pool.acquire() as connection:
            requeued = await embedding_queue.requeue_outdated(connection, embedding_version, limit)
        if requeued:
            log.info("re-embedding %d rows with embedding version %s", requeued, embedding_version)
        self._outdated_left = requeued == limit


async def run_embeddings_worker(
    settings: ServiceSettings, worker_settings: EmbeddingsWorkerSettings, stop: asyncio.Event
) -> None:
    """Run until ``stop`` is set, finishing the batches in progress."""
    dsn = require_database_url(settings.database_url, settings.service)
    role = worker_settings.database_role
    pool = await open_worker_pool(
        dsn,
        role,
        apply_migrations=worker_settings.apply_migrations,
        max_size=worker_settings.concurrency + 3,
        stop=stop,
    )
    if pool is None:
        return
    embedder = EmbedderClient(
        settings.target("embedder"), settings.tls, timeout_seconds=worker_settings.embedder_timeout_seconds
    )
    queue = LeasedQueue(
        EMBEDDINGS_QUEUE,
        worker_id=f"{settings.instance_name}/{socket.gethostname()}/{os.getpid()}",
        lease_seconds=worker_settings.lease_seconds,
        retry=RetryPolicy(
            max_attempts=worker_settings.max_attempts,
            backoff_base_seconds=worker_settings.backoff_base_seconds,
            backoff_max_seconds=worker_settings.backoff_max_seconds,
        ),
    )
    worker = EmbeddingsWorker(pool, queue, embedder, worker_settings)
    listener = Listener(dsn_with_role(dsn, role), settings.service)
    listener.on(embedding_queue.CHANNEL, lambda _payload: worker.wake())
    # Jobs may have been enqueued while nobody listened: look at once.
    listener.on_reconnect(worker.wake)
    listening = asyncio.create_task(listener.run())
    try:
        await worker.run(stop)
    finally:
        await _stop_task(listening)
        await embedder.close()
        await pool.close()


async def _stop_task(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _work(settings: ServiceSettings) -> Callable[[asyncio.Event], Awaitable[None]]:
    worker_settings = EmbeddingsWorkerSettings.from_env()
    return lambda stop: run_embeddings_worker(settings, worker_settings, stop)


async def serve(settings: ServiceSettings) -> None:
    await run_worker(settings, _work(settings))


def main() -> None:
    run_process("embeddings-worker", serve)


if __name__ == "__main__":
    main()
