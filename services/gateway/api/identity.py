"""The caller's identity: memory blocks and their revisions, checkpoints, identity state and heartbeat."""

from __future__ import annotations

import uuid

import grpc

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import identity_pb2
from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from cerebro.runtime.violations import Violations
from services.gateway.api.base import ApiBase

# The gateway addresses blocks by label; the memory service updates them by id.
UPDATE_BLOCK_FIELDS = {"block.block_id": "block.label"}


class IdentityApi(ApiBase):
    async def ListMemoryBlocks(
        self, request: pb.ListMemoryBlocksRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMemoryBlocksResponse:
        downstream = memory_pb.ListMemoryBlocksRequest(
            namespace=await self.readable_namespace(request.namespace),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        response = await self.memory(
            lambda stub, timeout: stub.ListMemoryBlocks(downstream, timeout=timeout), idempotent=True
        )
        return pb.ListMemoryBlocksResponse(blocks=response.blocks, next_page_token=response.next_page_token)

    async def GetMemoryBlock(
        self, request: pb.GetMemoryBlockRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMemoryBlockResponse:
        namespace = await self.readable_namespace(request.namespace)
        return pb.GetMemoryBlockResponse(block=await self._block(namespace, request.label, "label"))

    async def CreateMemoryBlock(
        self, request: pb.CreateMemoryBlockRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateMemoryBlockResponse:
        downstream = memory_pb.CreateMemoryBlockRequest(
            namespace=await self.own_namespace(),
            block=request.block,
            request_id=request.request_id or str(uuid.uuid4()),
        )
        response = await self.memory(
            lambda stub, timeout: stub.CreateMemoryBlock(downstream, timeout=timeout), idempotent=True
        )
        return pb.CreateMemoryBlockResponse(block=response.block)

    async def UpdateMemoryBlock(
        self, request: pb.UpdateMemoryBlockRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateMemoryBlockResponse:
        namespace = await self.own_namespace()
        current = await self._block(namespace, request.block.label, "block.label")
        block = identity_pb2.MemoryBlock()
        block.CopyFrom(request.block)
        block.block_id = current.block_id
        downstream = memory_pb.UpdateMemoryBlockRequest(
            namespace=namespace, block=block, update_mask=request.update_mask
        )
        if request.HasField("expected_version"):
            downstream.expected_version = request.expected_version
        # Not idempotent: every update counts a version.
        response = await self.memory(
            lambda stub, timeout: stub.UpdateMemoryBlock(downstream, timeout=timeout),
            idempotent=False,
            fields=UPDATE_BLOCK_FIELDS,
        )
        return pb.UpdateMemoryBlockResponse(block=response.block)

    async def ListMemoryBlockRevisions(
        self, request: pb.ListMemoryBlockRevisionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMemoryBlockRevisionsResponse:
        namespace = await self.readable_namespace(request.namespace)
        block = await self._block(namespace, request.label, "label")
        downstream = memory_pb.ListMemoryBlockRevisionsRequest(
            namespace=namespace, block_id=block.block_id, page_size=request.page_size, page_token=request.page_token
        )
        response = await self.memory(
            lambda stub, timeout: stub.ListMemoryBlockRevisions(downstream, timeout=timeout),
            idempotent=True,
            fields={"block_id": "label"},
        )
        return pb.ListMemoryBlockRevisionsResponse(
            revisions=response.revisions, next_page_token=response.next_page_token
        )

    async def _block(self, namespace: str, label: str, field: str) -> identity_pb2.MemoryBlock:
        violations = Violations()
        violations.text(field, label, max_chars=255)
        violations.raise_if_any()
        downstream = memory_pb.GetMemoryBlockRequest(namespace=namespace, label=label)
        response = await self.memory(
            lambda stub, timeout: stub.GetMemoryBlock(downstream, timeout=timeout),
            idempotent=True,
            fields={"label": field},
        )
        return response.block

    async def CreateCheckpoint(
        self, request: pb.CreateCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateCheckpointResponse:
        downstream = memory_pb.CreateCheckpointRequest(
            namespace=await self.own_namespace(),
            checkpoint=request.checkpoint,
            request_id=request.request_id or str(uuid.uuid4()),
        )
        response = await self.memory(
            lambda stub, timeout: stub.CreateCheckpoint(downstream, timeout=timeout), idempotent=True
        )
        return pb.CreateCheckpointResponse(checkpoint=response.checkpoint)

    async def RestoreCheckpoint(
        self, request: pb.RestoreCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.RestoreCheckpointResponse:
        downstream = memory_pb.RestoreCheckpointRequest(
            namespace=await self.own_namespace(), checkpoint_id=request.checkpoint_id
        )
        response = await self.memory(
            lambda stub, timeout: stub.RestoreCheckpoint(downstream, timeout=timeout), idempotent=True
        )
        return pb.RestoreCheckpointResponse(
            checkpoint=response.checkpoint,
            continuity_score=response.continuity_score,
            identity_matches=response.identity_matches,
            changed_labels=response.changed_labels,
        )

    async def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCheckpointsResponse:
        downstream = memory_pb.ListCheckpointsRequest(
            namespace=await self.own_namespace(),
            checkpoint_type=request.checkpoint_type,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        response = await self.memory(
            lambda stub, timeout: stub.ListCheckpoints(downstream, timeout=timeout), idempotent=True
        )
        return pb.ListCheckpointsResponse(checkpoints=response.checkpoints, next_page_token=response.next_page_token)

    async def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCheckpointResponse:
        downstream = memory_pb.GetCheckpointRequest(
            namespace=await self.own_namespace(), checkpoint_id=request.checkpoint_id
        )
        response = await self.memory(
            lambda stub, timeout: stub.GetCheckpoint(downstream, timeout=timeout), idempotent=True
        )
        return pb.GetCheckpointResponse(checkpoint=response.checkpoint)

    async def GetIdentityState(
        self, request: pb.GetIdentityStateRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetIdentityStateResponse:
        downstream = memory_pb.GetConsciousnessStateRequest(namespace=await self.own_namespace())
        response = await self.memory(
            lambda stub, timeout: stub.GetConsciousnessState(downstream, timeout=timeout), idempotent=True
        )
        return pb.GetIdentityStateResponse(state=response.state)

    async def UpdateIdentityState(
        self, request: pb.UpdateIdentityStateRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateIdentityStateResponse:
        downstream = memory_pb.UpdateConsciousnessStateRequest(
            namespace=await self.own_namespace(), state=request.state, update_mask=request.update_mask
        )
        # Not idempotent: every update counts a version.
        response = await self.memory(
            lambda stub, timeout: stub.UpdateConsciousnessState(downstream, timeout=timeout), idempotent=False
        )
        return pb.UpdateIdentityStateResponse(state=response.state)

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: grpc.aio.ServicerContext) -> pb.HeartbeatResponse:
        downstream = memory_pb.HeartbeatRequest(namespace=await self.own_namespace())
        # A repeated heartbeat only records "alive now" again.
        response = await self.memory(lambda stub, timeout: stub.Heartbeat(downstream, timeout=timeout), idempotent=True)
        return pb.HeartbeatResponse(state=response.state)
