"""Semantic memory: concepts and definitions, embedded like episodes."""

from __future__ import annotations

import asyncpg

from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.memory.v1 import semantic_pb2
from cerebro.runtime.errors import invalid_argument
from cerebro.runtime.interceptors import Context
from cerebro.runtime.violations import Violations
from services.memory.api.base import ApiBase
from services.memory.api.episodes import embedding_state
from services.memory.convert import request_digest, struct, timestamp
from services.memory.db import reading_namespace
from services.memory.store import semantic as store

MAX_CONCEPT_CHARS = 500
MAX_DEFINITION_BYTES = 262_144
MAX_RELATIONSHIPS_BYTES = 65_536
MAX_SOURCE_EPISODES = 1_000
DEFAULT_CONFIDENCE = 0.5
UPDATABLE_FIELDS = ("concept", "definition", "relationships", "confidence", "source_episode_ids")


def semantic_memory_message(row: asyncpg.Record) -> semantic_pb2.SemanticMemory:
    return semantic_pb2.SemanticMemory(
        semantic_memory_id=str(row["semantic_memory_id"]),
        namespace=row["namespace"],
        concept=row["concept"],
        definition=row["definition"],
        relationships=struct(row["relationships"], f"semantic memory {row['semantic_memory_id']} relationships"),
        confidence=row["confidence"],
        source_episode_ids=[str(value) for value in row["source_episode_ids"]],
        create_time=timestamp(row["created_at"]),
        update_time=timestamp(row["updated_at"]),
        embedding_state=embedding_state(row),
        embedding_version=row["embedding_version"] or "",
    )


class SemanticMemoriesApi(ApiBase):
    async def CreateSemanticMemory(
        self, request: pb.CreateSemanticMemoryRequest, context: Context
    ) -> pb.CreateSemanticMemoryResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        if not request.HasField("semantic_memory"):
            raise invalid_argument([("semantic_memory", "is required")])
        memory = request.semantic_memory
        request_id = violations.uuid("request_id", request.request_id, required=False)
        new = store.NewSemanticMemory(
            concept=violations.text(
                "semantic_memory.concept", memory.concept, required=True, max_chars=MAX_CONCEPT_CHARS
            ),
            definition=violations.text(
                "semantic_memory.definition", memory.definition, required=False, max_bytes=MAX_DEFINITION_BYTES
            ),
            relationships=violations.struct(
                "semantic_memory.relationships", memory.relationships, max_bytes=MAX_RELATIONSHIPS_BYTES
            ),
            confidence=(
                violations.fraction("semantic_memory.confidence", memory.confidence)
                if memory.HasField("confidence")
                else DEFAULT_CONFIDENCE
            ),
            source_episode_ids=violations.uuids(
                "semantic_memory.source_episode_ids", memory.source_episode_ids, max_items=MAX_SOURCE_EPISODES
            ),
            request_id=request_id,
            request_digest=request_digest(request) if request_id is not None else None,
        )
        violations.raise_if_any()
        row = await store.create_semantic_memory(self.resources.database, namespace, new)
        return pb.CreateSemanticMemoryResponse(semantic_memory=semantic_memory_message(row))

    async def GetSemanticMemory(
        self, request: pb.GetSemanticMemoryRequest, context: Context
    ) -> pb.GetSemanticMemoryResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        semantic_memory_id = violations.uuid("semantic_memory_id", request.semantic_memory_id)
        violations.raise_if_any()
        assert semantic_memory_id is not None
        async with reading_namespace(self.resources.database, namespace) as connection:
            row = await store.get_semantic_memory(connection, namespace, semantic_memory_id)
        return pb.GetSemanticMemoryResponse(semantic_memory=semantic_memory_message(row))

    async def ListSemanticMemories(
        self, request: pb.ListSemanticMemoriesRequest, context: Context
    ) -> pb.ListSemanticMemoriesResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        page_size = violations.page_size("page_size", request.page_size)
        concept = violations.text("concept", request.concept, required=False, max_chars=MAX_CONCEPT_CHARS)
        violations.raise_if_any()
        page = await self.namespace_page(
            request,
            namespace,
            page_size,
            ("time", "uuid"),
            lambda connection, after, limit: store.list_semantic_memories(
                connection, namespace, after=after, limit=limit, concept=concept or None
            ),
            key=lambda row: (row["created_at"], row["semantic_memory_id"]),
        )
        return pb.ListSemanticMemoriesResponse(
            semantic_memories=[semantic_memory_message(row) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def UpdateSemanticMemory(
        self, request: pb.UpdateSemanticMemoryRequest, context: Context
    ) -> pb.UpdateSemanticMemoryResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        memory = request.semantic_memory
        semantic_memory_id = violations.uuid("semantic_memory.semantic_memory_id", memory.semantic_memory_id)
        paths = violations.update_mask("update_mask", request.update_mask, UPDATABLE_FIELDS)
        changes = store.SemanticMemoryChanges(
            concept=(
                violations.text("semantic_memory.concept", memory.concept, required=True, max_chars=MAX_CONCEPT_CHARS)
                if "concept" in paths
                else None
            ),
            definition=(
                violations.text(
                    "semantic_memory.definition", memory.definition, required=False, max_bytes=MAX_DEFINITION_BYTES
                )
                if "definition" in paths
                else None
            ),
            relationships=(
                violations.struct(
                    "semantic_memory.relationships", memory.relationships, max_bytes=MAX_RELATIONSHIPS_BYTES
                )
                if "relationships" in paths
                else None
            ),
            confidence=(
                violations.fraction(
                    "semantic_memory.confidence",
                    memory.confidence if memory.HasField("confidence") else DEFAULT_CONFIDENCE,
                )
                if "confidence" in paths
                else None
            ),
            source_episode_ids=(
                violations.uuids(
                    "semantic_memory.source_episode_ids", memory.source_episode_ids, max_items=MAX_SOURCE_EPISODES
                )
                if "source_episode_ids" in paths
                else None
            ),
        )
        violations.raise_if_any()
        assert semantic_memory_id is not None
        row = await store.update_semantic_memory(self.resources.database, namespace, semantic_memory_id, changes)
        return pb.UpdateSemanticMemoryResponse(semantic_memory=semantic_memory_message(row))

    async def DeleteSemanticMemory(
        self, request: pb.DeleteSemanticMemoryRequest, context: Context
    ) -> pb.DeleteSemanticMemoryResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        semantic_memory_id = violations.uuid("semantic_memory_id", request.semantic_memory_id)
        violations.raise_if_any()
        assert semantic_memory_id is not None
        await store.delete_semantic_memory(self.resources.database, namespace, semantic_memory_id)
        return pb.DeleteSemanticMemoryResponse()
