"""Stats and comprehensive health."""

from __future__ import annotations

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from services.gateway.api.base import ApiBase
from services.gateway.call import Call


class SystemApi(ApiBase):
    async def GetStats(self, request: pb.GetStatsRequest, call: Call) -> pb.GetStatsResponse:
        namespace = await self.own_namespace(call)
        downstream = memory_pb.GetStatsRequest(namespace=namespace)
        memory = await self.memory(
            lambda stub, timeout: stub.GetStats(downstream, timeout=timeout), call, idempotent=True
        )
        connected = await self.active_instances(call, agents_only=True)
        pending, published = await self.resources.learnings.counts(namespace)
        return pb.GetStatsResponse(
            namespace=namespace,
            memory=memory,
            connected_instances=len(connected),
            pending_learnings=pending,
            published_learnings=published,
        )

    async def GetHealth(self, request: pb.GetHealthRequest, call: Call) -> pb.GetHealthResponse:
        return await self.resources.health.check()
