"""Semantic knowledge: upsert and search."""

from __future__ import annotations

import uuid

import grpc

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from services.gateway.api.base import ApiBase

KNOWLEDGE_FIELDS = {"semantic_memory": "knowledge"}


class KnowledgeApi(ApiBase):
    async def UpsertKnowledge(
        self, request: pb.UpsertKnowledgeRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpsertKnowledgeResponse:
        namespace = await self.own_namespace()
        if not request.knowledge.semantic_memory_id:
            create = memory_pb.CreateSemanticMemoryRequest(
                namespace=namespace,
                semantic_memory=request.knowledge,
                request_id=request.request_id or str(uuid.uuid4()),
            )
            created = await self.memory(
                lambda stub, timeout: stub.CreateSemanticMemory(create, timeout=timeout),
                idempotent=True,
                fields=KNOWLEDGE_FIELDS,
            )
            return pb.UpsertKnowledgeResponse(knowledge=created.semantic_memory, created=True)
        update = memory_pb.UpdateSemanticMemoryRequest(
            namespace=namespace, semantic_memory=request.knowledge, update_mask=request.update_mask
        )
        # Not idempotent: a retried update could undo a concurrent one.
        updated = await self.memory(
            lambda stub, timeout: stub.UpdateSemanticMemory(update, timeout=timeout),
            idempotent=False,
            fields=KNOWLEDGE_FIELDS,
        )
        return pb.UpsertKnowledgeResponse(knowledge=updated.semantic_memory, created=False)

    async def SearchKnowledge(
        self, request: pb.SearchKnowledgeRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchKnowledgeResponse:
        namespace = await self.readable_namespace(request.namespace)
        downstream = memory_pb.SearchSemanticMemoriesRequest(
            namespace=namespace, query=request.query, mode=request.mode, top_k=request.top_k
        )
        if request.HasField("min_confidence"):
            downstream.min_confidence = request.min_confidence
        if request.HasField("min_score"):
            downstream.min_score = request.min_score
        response = await self.memory(
            lambda stub, timeout: stub.SearchSemanticMemories(downstream, timeout=timeout), idempotent=True
        )
        return pb.SearchKnowledgeResponse(
            hits=response.hits, vector_search_skipped=response.vector_search_skipped, namespace=namespace
        )
