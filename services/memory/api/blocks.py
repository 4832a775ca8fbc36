"""Memory blocks: an agent instance's identity, versioned, with read-only blocks enforced."""

from __future__ import annotations

import re

import asyncpg

from cerebro.memory.v1 import identity_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.runtime.errors import invalid_argument
from cerebro.runtime.interceptors import Context
from cerebro.runtime.violations import Violations
from services.memory.api.base import ApiBase
from services.memory.convert import request_digest, timestamp
from services.memory.db import reading_namespace
from services.memory.store import blocks as store

LABEL_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,254}")
LABEL_RULE = "must be 1-255 characters: a lowercase letter, then lowercase letters, digits or '_'"
DEFAULT_CHAR_LIMIT = 2_000
MAX_CHAR_LIMIT = 100_000
MAX_DESCRIPTION_CHARS = 1_000
UPDATABLE_FIELDS = ("description", "value", "char_limit")


def block_message(row: asyncpg.Record) -> identity_pb2.MemoryBlock:
    return identity_pb2.MemoryBlock(
        block_id=str(row["block_id"]),
        namespace=row["namespace"],
        label=row["label"],
        description=row["description"],
        value=row["value"],
        char_limit=row["char_limit"],
        read_only=row["read_only"],
        version=row["version"],
        create_time=timestamp(row["created_at"]),
        update_time=timestamp(row["updated_at"]),
    )


def _label(violations: Violations, field: str, value: str) -> str:
    return violations.pattern(field, value, LABEL_PATTERN, LABEL_RULE)


def _char_limit(violations: Violations, field: str, value: int) -> int:
    violations.between(field, value, 1, MAX_CHAR_LIMIT)
    return value


class MemoryBlocksApi(ApiBase):
    async def CreateMemoryBlock(
        self, request: pb.CreateMemoryBlockRequest, context: Context
    ) -> pb.CreateMemoryBlockResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        if not request.HasField("block"):
            raise invalid_argument([("block", "is required")])
        block = request.block
        request_id = violations.uuid("request_id", request.request_id, required=False)
        new = store.NewBlock(
            label=_label(violations, "block.label", block.label),
            description=violations.text(
                "block.description", block.description, required=False, max_chars=MAX_DESCRIPTION_CHARS
            ),
            value=violations.text("block.value", block.value, required=True, max_chars=MAX_CHAR_LIMIT),
            char_limit=_char_limit(violations, "block.char_limit", block.char_limit)
            if block.char_limit
            else DEFAULT_CHAR_LIMIT,
            read_only=block.read_only,
            request_id=request_id,
            request_digest=request_digest(request) if request_id is not None else None,
        )
        violations.raise_if_any()
        row = await store.create_block(self.resources.database, namespace, new)
        return pb.CreateMemoryBlockResponse(block=block_message(row))

    async def GetMemoryBlock(self, request: pb.GetMemoryBlockRequest, context: Context) -> pb.GetMemoryBlockResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        selector = request.WhichOneof("selector")
        block_id = violations.uuid("block_id", request.block_id) if selector == "block_id" else None
        label = _label(violations, "label", request.label) if selector == "label" else None
        if selector is None:
            violations.add("selector", "set block_id or label")
        violations.raise_if_any()
        async with reading_namespace(self.resources.database, namespace) as connection:
            row = await store.get_block(connection, namespace, block_id=block_id, label=label)
        return pb.GetMemoryBlockResponse(block=block_message(row))

    async def ListMemoryBlocks(
        self, request: pb.ListMemoryBlocksRequest, context: Context
    ) -> pb.ListMemoryBlocksResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        page_size = violations.page_size("page_size", request.page_size)
        violations.raise_if_any()
        page = await self.namespace_page(
            request,
            namespace,
            page_size,
            ("text",),
            lambda connection, after, limit: store.list_blocks(connection, namespace, after=after, limit=limit),
            key=lambda row: (row["label"],),
        )
        return pb.ListMemoryBlocksResponse(
            blocks=[block_message(row) for row in page.items], next_page_token=page.next_page_token
        )

    async def UpdateMemoryBlock(
        self, request: pb.UpdateMemoryBlockRequest, context: Context
    ) -> pb.UpdateMemoryBlockResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        block = request.block
        block_id = violations.uuid("block.block_id", block.block_id)
        paths = violations.update_mask("update_mask", request.update_mask, UPDATABLE_FIELDS)
        changes = store.BlockChanges(
            description=(
                violations.text("block.description", block.description, required=False, max_chars=MAX_DESCRIPTION_CHARS)
                if "description" in paths
                else None
            ),
            value=violations.text("block.value", block.value, required=True, max_chars=MAX_CHAR_LIMIT)
            if "value" in paths
            else None,
            char_limit=_char_limit(violations, "block.char_limit", block.char_limit) if "char_limit" in paths else None,
        )
        expected = request.expected_version if request.HasField("expected_version") else None
        violations.raise_if_any()
        assert block_id is not None
        row = await store.update_block(self.resources.database, namespace, block_id, changes, expected)
        return pb.UpdateMemoryBlockResponse(block=block_message(row))

    async def DeleteMemoryBlock(
        self, request: pb.DeleteMemoryBlockRequest, context: Context
    ) -> pb.DeleteMemoryBlockResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        block_id = violations.uuid("block_id", request.block_id)
        violations.raise_if_any()
        assert block_id is not None
        expected = request.expected_version if request.HasField("expected_version") else None
        await store.delete_block(self.resources.database, namespace, block_id, expected)
        return pb.DeleteMemoryBlockResponse()

    async def ListMemoryBlockRevisions(
        self, request: pb.ListMemoryBlockRevisionsRequest, context: Context
    ) -> pb.ListMemoryBlockRevisionsResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        block_id = violations.uuid("block_id", request.block_id)
        page_size = violations.page_size("page_size", request.page_size)
        violations.raise_if_any()
        assert block_id is not None
        page = await self.namespace_page(
            request,
            namespace,
            page_size,
            ("int",),
            lambda connection, after, limit: store.list_revisions(
                connection, namespace, block_id, after=after, limit=limit
            ),
            key=lambda row: (row["version"],),
        )
        return pb.ListMemoryBlockRevisionsResponse(
            revisions=[
                identity_pb2.MemoryBlockRevision(
                    block_id=str(row["block_id"]),
                    version=row["version"],
                    description=row["description"],
                    value=row["value"],
                    char_limit=row["char_limit"],
                    create_time=timestamp(row["created_at"]),
                )
                for row in page.items
            ],
            next_page_token=page.next_page_token,
        )
