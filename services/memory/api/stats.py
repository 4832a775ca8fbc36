"""GetStats: the comprehensive figures of document 000 for one namespace."""

from __future__ import annotations

import logging
from datetime import timedelta

from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.runtime.interceptors import Context
from cerebro.runtime.violations import Violations
from services.memory.api.base import ApiBase
from services.memory.convert import duration, timestamp
from services.memory.db import reading_namespace
from services.memory.store.stats import namespace_stats
from services.memory.store.working_memory_cache import CacheErrors

log = logging.getLogger(__name__)


class StatsApi(ApiBase):
    async def _redis_keys(self) -> int:
        cache = self.resources.cache
        if cache is None:
            return -1
        try:
            return await cache.key_count()
        except CacheErrors as error:
            log.warning("GetStats without Redis figures: %s", error)
            return -1

    async def GetStats(self, request: pb.GetStatsRequest, context: Context) -> pb.GetStatsResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        violations.raise_if_any()
        async with reading_namespace(self.resources.database, namespace) as connection:
            row = await namespace_stats(connection, namespace)
        total, embedded = row["episodes_total"], row["episodes_embedded"]
        oldest = row["oldest_pending"]
        return pb.GetStatsResponse(
            episodes_total=total,
            episodes_embedded=embedded,
            embedding_coverage_percent=100.0 if total == 0 else 100.0 * embedded / total,
            queue_pending=row["pending"],
            queue_processing=row["processing"],
            queue_dead=row["dead"],
            queue_oldest_pending_age=duration(
                max(row["measured_at"] - oldest, timedelta(0)) if oldest else timedelta(0)
            ),
            semantic_memories_total=row["semantic_memories_total"],
            working_memory_items=row["working_memory_items"],
            memory_blocks=row["memory_blocks"],
            projects=row["projects"],
            checkpoints=row["checkpoints"],
            last_checkpoint_type=row["last_checkpoint_type"] or "",
            last_checkpoint_time=timestamp(row["last_checkpoint_at"]),
            redis_keys=await self._redis_keys(),
            last_heartbeat_time=timestamp(row["last_heartbeat_at"]),
        )
