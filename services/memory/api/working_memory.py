"""Working memory, write-through: PostgreSQL first (fail fast), then Redis (best effort).

Gets read Redis first and fall back to PostgreSQL when Redis is down or lacks the item (then put it
back in Redis). Lists read PostgreSQL, which has the index. The reconciliation worker repairs what a
failed Redis write left behind.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from prometheus_client import Counter

from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.memory.v1 import working_memory_pb2
from cerebro.runtime.errors import invalid_argument
from cerebro.runtime.interceptors import Context
from cerebro.runtime.violations import Violations
from services.memory.api.base import ApiBase
from services.memory.convert import request_digest
from services.memory.db import reading_namespace
from services.memory.store import working_memory as store
from services.memory.store.working_memory_cache import CacheErrors

log = logging.getLogger(__name__)

CACHE_REQUESTS = Counter(
    "working_memory_cache_requests_total",
    "Working memory cache operations, by operation and outcome (hit, miss, written, error).",
    ["operation", "outcome"],
)

MAX_CONTENT_BYTES = 262_144
DEFAULT_TTL = timedelta(hours=24)
MIN_TTL = timedelta(seconds=1)
MAX_TTL = timedelta(days=30)
UPDATABLE_FIELDS = ("content", "priority", "ttl")


class WorkingMemoryApi(ApiBase):
    async def _cache_put(self, item: working_memory_pb2.WorkingMemoryItem) -> None:
        cache = self.resources.cache
        if cache is None:
            return
        try:
            await cache.put(item)
            CACHE_REQUESTS.labels("put", "written").inc()
        except CacheErrors as error:
            CACHE_REQUESTS.labels("put", "error").inc()
            log.warning("working memory %s stored in PostgreSQL; Redis write failed: %s", item.item_id, error)

    async def _cache_get(self, namespace: str, item_id: str) -> working_memory_pb2.WorkingMemoryItem | None:
        cache = self.resources.cache
        if cache is None:
            return None
        try:
            item = await cache.get(namespace, item_id)
        except CacheErrors as error:
            CACHE_REQUESTS.labels("get", "error").inc()
            log.warning("Redis read failed, reading PostgreSQL: %s", error)
            return None
        CACHE_REQUESTS.labels("get", "miss" if item is None else "hit").inc()
        return item

    async def CreateWorkingMemoryItem(
        self, request: pb.CreateWorkingMemoryItemRequest, context: Context
    ) -> pb.CreateWorkingMemoryItemResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        if not request.HasField("item"):
            raise invalid_argument([("item", "is required")])
        item = request.item
        request_id = violations.uuid("request_id", request.request_id, required=False)
        if not item.HasField("content"):
            violations.add("item.content", "is required")
        new = store.NewItem(
            context_type=violations.text("item.context_type", item.context_type, required=True, max_chars=100),
            content=violations.struct("item.content", item.content, max_bytes=MAX_CONTENT_BYTES),
            priority=violations.enum("item.priority", item.priority, store.PRIORITIES) or "normal",
            ttl=(
                violations.duration("item.ttl", item.ttl, minimum=MIN_TTL, maximum=MAX_TTL)
                if item.HasField("ttl")
                else DEFAULT_TTL
            ),
            request_id=request_id,
            request_digest=request_digest(request) if request_id is not None else None,
        )
        violations.raise_if_any()
        row = await store.create_item(self.resources.database, namespace, new)
        stored = store.item_message(row)
        await self._cache_put(stored)
        return pb.CreateWorkingMemoryItemResponse(item=stored)

    async def GetWorkingMemoryItem(
        self, request: pb.GetWorkingMemoryItemRequest, context: Context
    ) -> pb.GetWorkingMemoryItemResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        item_id = violations.uuid("item_id", request.item_id)
        violations.raise_if_any()
        assert item_id is not None
        cached = await self._cache_get(namespace, str(item_id))
        if cached is not None:
            return pb.GetWorkingMemoryItemResponse(item=cached)
        async with reading_namespace(self.resources.database, namespace) as connection:
            row = await store.get_item(connection, namespace, item_id)
        item = store.item_message(row)
        await self._cache_put(item)
        return pb.GetWorkingMemoryItemResponse(item=item)

    async def ListWorkingMemoryItems(
        self, request: pb.ListWorkingMemoryItemsRequest, context: Context
    ) -> pb.ListWorkingMemoryItemsResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        context_type = violations.text("context_type", request.context_type, required=False, max_chars=100)
        page_size = violations.page_size("page_size", request.page_size)
        violations.raise_if_any()
        page = await self.namespace_page(
            request,
            namespace,
            page_size,
            ("time", "uuid"),
            lambda connection, after, limit: store.list_items(
                connection, namespace, context_type or None, after=after, limit=limit
            ),
            key=lambda row: (row["created_at"], row["item_id"]),
        )
        return pb.ListWorkingMemoryItemsResponse(
            items=[store.item_message(row) for row in page.items], next_page_token=page.next_page_token
        )

    async def UpdateWorkingMemoryItem(
        self, request: pb.UpdateWorkingMemoryItemRequest, context: Context
    ) -> pb.UpdateWorkingMemoryItemResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        item = request.item
        item_id = violations.uuid("item.item_id", item.item_id)
        paths = violations.update_mask("update_mask", request.update_mask, UPDATABLE_FIELDS)
        if "content" in paths and not item.HasField("content"):
            violations.add("item.content", "is required when named in the update mask")
        if "ttl" in paths and not item.HasField("ttl"):
            violations.add("item.ttl", "is required when named in the update mask")
        if "priority" in paths and item.priority == working_memory_pb2.WORKING_MEMORY_PRIORITY_UNSPECIFIED:
            violations.add("item.priority", "is required when named in the update mask")
        changes = store.ItemChanges(
            content=violations.struct("item.content", item.content, max_bytes=MAX_CONTENT_BYTES)
            if "content" in paths
            else None,
            priority=violations.enum("item.priority", item.priority, store.PRIORITIES) if "priority" in paths else None,
            ttl=(
                violations.duration("item.ttl", item.ttl, minimum=MIN_TTL, maximum=MAX_TTL)
                if "ttl" in paths and item.HasField("ttl")
                else None
            ),
        )
        violations.raise_if_any()
        assert item_id is not None
        row = await store.update_item(self.resources.database, namespace, item_id, changes)
        updated = store.item_message(row)
        await self._cache_put(updated)
        return pb.UpdateWorkingMemoryItemResponse(item=updated)

    async def DeleteWorkingMemoryItem(
        self, request: pb.DeleteWorkingMemoryItemRequest, context: Context
    ) -> pb.DeleteWorkingMemoryItemResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        item_id = violations.uuid("item_id", request.item_id)
        violations.raise_if_any()
        assert item_id is not None
        await store.delete_item(self.resources.database, namespace, item_id)
        await self._cache_delete(namespace, item_id)
        return pb.DeleteWorkingMemoryItemResponse()

    async def _cache_delete(self, namespace: str, item_id: uuid.UUID) -> None:
        cache = self.resources.cache
        if cache is None:
            return
        try:
            await cache.delete(namespace, str(item_id))
            CACHE_REQUESTS.labels("delete", "written").inc()
        except CacheErrors as error:
            CACHE_REQUESTS.labels("delete", "error").inc()
            log.warning("working memory %s deleted in PostgreSQL; Redis delete failed: %s", item_id, error)
