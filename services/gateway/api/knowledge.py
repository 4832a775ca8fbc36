"""Semantic knowledge: upsert, search, get (by id or concept), list and delete."""

from __future__ import annotations

import uuid

import grpc

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from cerebro.runtime.errors import not_found
from cerebro.runtime.violations import Violations
from services.gateway.api.base import ApiBase

KNOWLEDGE_FIELDS = {"semantic_memory": "knowledge"}
MAX_CONCEPT_CHARS = 500


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

    async def GetKnowledge(
        self, request: pb.GetKnowledgeRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetKnowledgeResponse:
        downstream = memory_pb.GetSemanticMemoryRequest(
            namespace=await self.readable_namespace(request.namespace), semantic_memory_id=request.semantic_memory_id
        )
        response = await self.memory(
            lambda stub, timeout: stub.GetSemanticMemory(downstream, timeout=timeout), idempotent=True
        )
        return pb.GetKnowledgeResponse(knowledge=response.semantic_memory)

    async def LookupKnowledge(
        self, request: pb.LookupKnowledgeRequest, context: grpc.aio.ServicerContext
    ) -> pb.LookupKnowledgeResponse:
        violations = Violations()
        violations.text("concept", request.concept, max_chars=MAX_CONCEPT_CHARS)
        violations.raise_if_any()
        namespace = await self.readable_namespace(request.namespace)
        downstream = memory_pb.ListSemanticMemoriesRequest(namespace=namespace, concept=request.concept, page_size=1)
        response = await self.memory(
            lambda stub, timeout: stub.ListSemanticMemories(downstream, timeout=timeout), idempotent=True
        )
        if not response.semantic_memories:
            raise not_found("knowledge of the concept", request.concept)
        return pb.LookupKnowledgeResponse(knowledge=response.semantic_memories[0])

    async def ListKnowledge(
        self, request: pb.ListKnowledgeRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListKnowledgeResponse:
        downstream = memory_pb.ListSemanticMemoriesRequest(
            namespace=await self.readable_namespace(request.namespace),
            page_size=request.page_size,
            page_token=request.page_token,
            concept=request.concept,
        )
        response = await self.memory(
            lambda stub, timeout: stub.ListSemanticMemories(downstream, timeout=timeout), idempotent=True
        )
        return pb.ListKnowledgeResponse(knowledge=response.semantic_memories, next_page_token=response.next_page_token)

    async def DeleteKnowledge(
        self, request: pb.DeleteKnowledgeRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteKnowledgeResponse:
        downstream = memory_pb.DeleteSemanticMemoryRequest(
            namespace=await self.own_namespace(), semantic_memory_id=request.semantic_memory_id
        )
        # Not retried: a retry after a lost response would report the deleted knowledge NOT_FOUND.
        await self.memory(
            lambda stub, timeout: stub.DeleteSemanticMemory(downstream, timeout=timeout), idempotent=False
        )
        return pb.DeleteKnowledgeResponse()
