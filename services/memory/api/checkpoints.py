"""Consciousness checkpoints: state carried across restarts, with identity continuity on restore."""

from __future__ import annotations

import asyncpg

from cerebro.memory.v1 import identity_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.runtime.errors import invalid_argument
from cerebro.runtime.interceptors import Context
from cerebro.runtime.violations import Violations
from services.memory.api.base import ApiBase
from services.memory.convert import request_digest, struct, timestamp
from services.memory.db import reading_namespace
from services.memory.store import checkpoints as store

MAX_STATE_BYTES = 1_048_576
MAX_METADATA_BYTES = 65_536


def checkpoint_message(row: asyncpg.Record) -> identity_pb2.Checkpoint:
    return identity_pb2.Checkpoint(
        checkpoint_id=str(row["checkpoint_id"]),
        namespace=row["namespace"],
        checkpoint_type=row["checkpoint_type"],
        state_data=struct(row["state_data"], f"checkpoint {row['checkpoint_id']} state_data"),
        identity_hash=row["identity_hash"],
        block_count=len(row["block_digests"]),
        metadata=struct(row["metadata"], f"checkpoint {row['checkpoint_id']} metadata"),
        create_time=timestamp(row["created_at"]),
    )


class CheckpointsApi(ApiBase):
    async def CreateCheckpoint(
        self, request: pb.CreateCheckpointRequest, context: Context
    ) -> pb.CreateCheckpointResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        if not request.HasField("checkpoint"):
            raise invalid_argument([("checkpoint", "is required")])
        checkpoint = request.checkpoint
        if not checkpoint.HasField("state_data"):
            violations.add("checkpoint.state_data", "is required")
        request_id = violations.uuid("request_id", request.request_id, required=False)
        new = store.NewCheckpoint(
            checkpoint_type=violations.text(
                "checkpoint.checkpoint_type", checkpoint.checkpoint_type, required=True, max_chars=100
            ),
            state_data=violations.struct("checkpoint.state_data", checkpoint.state_data, max_bytes=MAX_STATE_BYTES),
            metadata=violations.struct("checkpoint.metadata", checkpoint.metadata, max_bytes=MAX_METADATA_BYTES),
            request_id=request_id,
            request_digest=request_digest(request) if request_id is not None else None,
        )
        violations.raise_if_any()
        row = await store.create_checkpoint(self.resources.database, namespace, new)
        return pb.CreateCheckpointResponse(checkpoint=checkpoint_message(row))

    async def GetCheckpoint(self, request: pb.GetCheckpointRequest, context: Context) -> pb.GetCheckpointResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        checkpoint_id = violations.uuid("checkpoint_id", request.checkpoint_id)
        violations.raise_if_any()
        async with reading_namespace(self.resources.database, namespace) as connection:
            row = await store.get_checkpoint(connection, namespace, checkpoint_id)
        return pb.GetCheckpointResponse(checkpoint=checkpoint_message(row))

    async def ListCheckpoints(self, request: pb.ListCheckpointsRequest, context: Context) -> pb.ListCheckpointsResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        checkpoint_type = violations.text("checkpoint_type", request.checkpoint_type, required=False, max_chars=100)
        page_size = violations.page_size("page_size", request.page_size)
        violations.raise_if_any()
        page = await self.namespace_page(
            request,
            namespace,
            page_size,
            ("time", "uuid"),
            lambda connection, after, limit: store.list_checkpoints(
                connection, namespace, checkpoint_type or None, after=after, limit=limit
            ),
            key=lambda row: (row["created_at"], row["checkpoint_id"]),
        )
        return pb.ListCheckpointsResponse(
            checkpoints=[checkpoint_message(row) for row in page.items], next_page_token=page.next_page_token
        )

    async def RestoreCheckpoint(
        self, request: pb.RestoreCheckpointRequest, context: Context
    ) -> pb.RestoreCheckpointResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        checkpoint_id = violations.uuid("checkpoint_id", request.checkpoint_id, required=False)
        violations.raise_if_any()
        async with reading_namespace(self.resources.database, namespace) as connection:
            row = await store.get_checkpoint(connection, namespace, checkpoint_id)
            result = await store.continuity_since(connection, namespace, row)
        return pb.RestoreCheckpointResponse(
            checkpoint=checkpoint_message(row),
            continuity_score=result.score,
            identity_matches=result.identity_matches,
            changed_labels=result.changed_labels,
        )
