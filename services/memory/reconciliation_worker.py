"""The reconciliation worker process (`cerebro serve reconciliation-worker`): PostgreSQL -> Redis.

Each pass, away from any request path:
1. deletes expired working memory rows from PostgreSQL (Redis expires its copies by itself);
2. walks Redis with SCAN (never KEYS) and deletes keys whose item no longer exists;
3. walks PostgreSQL's unexpired items and writes every item Redis lacks or holds in an older version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from prometheus_client import Counter, Gauge

from cerebro.runtime.config import ConfigError, ServiceSettings
from cerebro.runtime.database import require_database_url
from cerebro.runtime.process import run_process, run_worker
from services.memory.db import open_worker_pool
from services.memory.settings import ReconciliationWorkerSettings
from services.memory.store import working_memory as store
from services.memory.store.working_memory_cache import CacheErrors, WorkingMemoryCache, cache_key, open_redis, parse_key

log = logging.getLogger(__name__)

REPAIRED = Counter(
    "working_memory_reconciled_total",
    "Working memory cache repairs, by kind: rehydrated (missing or outdated in Redis), evicted (gone from PostgreSQL).",
    ["kind"],
)
EXPIRED = Counter("working_memory_expired_deleted_total", "Expired working memory rows deleted from PostgreSQL.")
LAST_PASS = Gauge("working_memory_reconciliation_last_success_timestamp_seconds", "When the last full pass succeeded.")


@dataclass(frozen=True)
class PassResult:
    expired_deleted: int
    evicted: int
    rehydrated: int


class Reconciler:
    def __init__(self, pool: asyncpg.Pool, cache: WorkingMemoryCache, batch_size: int) -> None:
        self._pool = pool
        self._cache = cache
        self._batch_size = batch_size

    async def run_pass(self) -> PassResult:
        result = PassResult(await self._delete_expired(), await self._evict_orphans(), await self._rehydrate())
        LAST_PASS.set_to_current_time()
        return result

    async def _delete_expired(self) -> int:
        total = 0
        while True:
            async with self._pool.acquire() as connection:
                deleted = await store.delete_expired(connection, self._batch_size)
            total += deleted
            if deleted < self._batch_size:
                break
        EXPIRED.inc(total)
        return total

    async def _evict_orphans(self) -> int:
        evicted = 0
        async for keys in self._cache.scan_keys(self._batch_size):
            parsed = {key: parse_key(key) for key in keys}
            item_ids = [ids[1] for ids in parsed.values() if ids is not None]
            async with self._pool.acquire() as connection:
                live = await store.current_versions(connection, item_ids)
            orphans = [key for key, ids in parsed.items() if ids is not None and ids[1] not in live]
            await self._cache.delete_keys(orphans)
            evicted += len(orphans)
        REPAIRED.labels("evicted").inc(evicted)
        return evicted

    async def _rehydrate(self) -> int:
        rehydrated = 0
        after = None
        while True:
            async with self._pool.acquire() as connection:
                rows = await store.unexpired_page(connection, after=after, limit=self._batch_size)
            if not rows:
                break
            items = [store.item_message(row) for row in rows]
            cached = await self._cache.versions([cache_key(item.namespace, item.item_id) for item in items])
            for item, version in zip(items, cached, strict=True):
                if version is None or version < item.version:
                    rehydrated += await self._cache.put(item)
            after = rows[-1]["item_id"]
        REPAIRED.labels("rehydrated").inc(rehydrated)
        return rehydrated


async def run_reconciliation_worker(
    settings: ServiceSettings, worker_settings: ReconciliationWorkerSettings, stop: asyncio.Event
) -> None:
    """Run a pass every interval until ``stop``; a failed pass (PostgreSQL or Redis down) is retried next time."""
    if settings.redis_url is None:
        raise ConfigError("CEREBRO_REDIS_URL (or CEREBRO_REDIS_URL_FILE) is required by the reconciliation worker")
    dsn = require_database_url(settings.database_url, settings.service)
    pool = await open_worker_pool(
        dsn, worker_settings.database_role, apply_migrations=worker_settings.apply_migrations, max_size=2, stop=stop
    )
    if pool is None:
        return
    cache = WorkingMemoryCache(open_redis(settings.redis_url))
    reconciler = Reconciler(pool, cache, worker_settings.batch_size)
    try:
        while not stop.is_set():
            try:
                result = await reconciler.run_pass()
                if result.expired_deleted or result.evicted or result.rehydrated:
                    log.info(
                        "reconciled working memory: %d expired rows deleted, %d keys evicted, %d items rehydrated",
                        result.expired_deleted,
                        result.evicted,
                        result.rehydrated,
                    )
            except (*CacheErrors, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("reconciliation pass failed, retrying next interval: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), worker_settings.interval_seconds)
    finally:
        await cache.close()
        await pool.close()


def _work(settings: ServiceSettings) -> Callable[[asyncio.Event], Awaitable[None]]:
    worker_settings = ReconciliationWorkerSettings.from_env()
    return lambda stop: run_reconciliation_worker(settings, worker_settings, stop)


async def serve(settings: ServiceSettings) -> None:
    await run_worker(settings, _work(settings))


def main() -> None:
    run_process("reconciliation-worker", serve)


if __name__ == "__main__":
    main()
