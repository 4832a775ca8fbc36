"""Stats and comprehensive health."""

from __future__ import annotations

import grpc

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import resources_pb2
from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from services.gateway.api.base import ApiBase


def memory_stats(figures: memory_pb.GetStatsResponse) -> resources_pb2.MemoryStats:
    """The memory service's figures about the caller's memory (not ``redis_keys``, which counts the whole cache)."""
    stats = resources_pb2.MemoryStats(
        episodes_total=figures.episodes_total,
        episodes_embedded=figures.episodes_embedded,
        embedding_coverage_percent=figures.embedding_coverage_percent,
        queue_pending=figures.queue_pending,
        queue_processing=figures.queue_processing,
        queue_dead=figures.queue_dead,
        semantic_memories_total=figures.semantic_memories_total,
        working_memory_items=figures.working_memory_items,
        memory_blocks=figures.memory_blocks,
        projects=figures.projects,
        checkpoints=figures.checkpoints,
        last_checkpoint_type=figures.last_checkpoint_type,
    )
    # Messages are copied only when set: unset means "none", not the epoch.
    if figures.HasField("queue_oldest_pending_age"):
        stats.queue_oldest_pending_age.CopyFrom(figures.queue_oldest_pending_age)
    if figures.HasField("last_checkpoint_time"):
        stats.last_checkpoint_time.CopyFrom(figures.last_checkpoint_time)
    if figures.HasField("last_heartbeat_time"):
        stats.last_heartbeat_time.CopyFrom(figures.last_heartbeat_time)
    return stats


class SystemApi(ApiBase):
    async def GetStats(self, request: pb.GetStatsRequest, context: grpc.aio.ServicerContext) -> pb.GetStatsResponse:
        namespace = await self.own_namespace()
        downstream = memory_pb.GetStatsRequest(namespace=namespace)
        figures = await self.memory(lambda stub, timeout: stub.GetStats(downstream, timeout=timeout), idempotent=True)
        connected = await self.active_instances(agents_only=True)
        pending, published = await self.resources.learnings.counts(namespace)
        return pb.GetStatsResponse(
            namespace=namespace,
            memory=memory_stats(figures),
            connected_instances=len(connected),
            pending_learnings=pending,
            published_learnings=published,
        )

    async def GetHealth(self, request: pb.GetHealthRequest, context: grpc.aio.ServicerContext) -> pb.GetHealthResponse:
        return await self.resources.health.check()
