"""The caller's working memory: list, get, put (create or replace) and delete."""

from __future__ import annotations

import uuid

import grpc
from google.protobuf import duration_pb2, field_mask_pb2

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from cerebro.memory.v1 import working_memory_pb2
from services.gateway.api.base import ApiBase

DEFAULT_TTL = duration_pb2.Duration(seconds=24 * 3600)
# What a put replaces in an existing item; context_type is immutable.
REPLACED_FIELDS = field_mask_pb2.FieldMask(paths=["content", "priority", "ttl"])


def replacement_of(item: working_memory_pb2.WorkingMemoryItem) -> working_memory_pb2.WorkingMemoryItem:
    """The full new state of an existing item: unset priority and ttl take their defaults, as on create."""
    replacement = working_memory_pb2.WorkingMemoryItem(
        item_id=item.item_id,
        content=item.content,
        priority=item.priority or working_memory_pb2.WORKING_MEMORY_PRIORITY_NORMAL,
    )
    replacement.ttl.CopyFrom(item.ttl if item.HasField("ttl") else DEFAULT_TTL)
    return replacement


class WorkingMemoryApi(ApiBase):
    async def ListWorkingMemoryItems(
        self, request: pb.ListWorkingMemoryItemsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListWorkingMemoryItemsResponse:
        downstream = memory_pb.ListWorkingMemoryItemsRequest(
            namespace=await self.own_namespace(),
            context_type=request.context_type,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        response = await self.memory(
            lambda stub, timeout: stub.ListWorkingMemoryItems(downstream, timeout=timeout), idempotent=True
        )
        return pb.ListWorkingMemoryItemsResponse(items=response.items, next_page_token=response.next_page_token)

    async def GetWorkingMemoryItem(
        self, request: pb.GetWorkingMemoryItemRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetWorkingMemoryItemResponse:
        downstream = memory_pb.GetWorkingMemoryItemRequest(
            namespace=await self.own_namespace(), item_id=request.item_id
        )
        response = await self.memory(
            lambda stub, timeout: stub.GetWorkingMemoryItem(downstream, timeout=timeout), idempotent=True
        )
        return pb.GetWorkingMemoryItemResponse(item=response.item)

    async def PutWorkingMemoryItem(
        self, request: pb.PutWorkingMemoryItemRequest, context: grpc.aio.ServicerContext
    ) -> pb.PutWorkingMemoryItemResponse:
        namespace = await self.own_namespace()
        if not request.item.item_id:
            create = memory_pb.CreateWorkingMemoryItemRequest(
                namespace=namespace, item=request.item, request_id=request.request_id or str(uuid.uuid4())
            )
            created = await self.memory(
                lambda stub, timeout: stub.CreateWorkingMemoryItem(create, timeout=timeout), idempotent=True
            )
            return pb.PutWorkingMemoryItemResponse(item=created.item, created=True)
        update = memory_pb.UpdateWorkingMemoryItemRequest(
            namespace=namespace, item=replacement_of(request.item), update_mask=REPLACED_FIELDS
        )
        # Not idempotent: every update counts a version.
        updated = await self.memory(
            lambda stub, timeout: stub.UpdateWorkingMemoryItem(update, timeout=timeout), idempotent=False
        )
        return pb.PutWorkingMemoryItemResponse(item=updated.item, created=False)

    async def DeleteWorkingMemoryItem(
        self, request: pb.DeleteWorkingMemoryItemRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteWorkingMemoryItemResponse:
        downstream = memory_pb.DeleteWorkingMemoryItemRequest(
            namespace=await self.own_namespace(), item_id=request.item_id
        )
        # Not retried: a retry after a lost response would report the deleted item NOT_FOUND.
        await self.memory(
            lambda stub, timeout: stub.DeleteWorkingMemoryItem(downstream, timeout=timeout), idempotent=False
        )
        return pb.DeleteWorkingMemoryItemResponse()
