"""Cross-learning: publish to every other subscribed instance, subscribe, acknowledge."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import grpc
from google.protobuf import timestamp_pb2

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import resources_pb2
from cerebro.runtime.safe_values import stored_struct
from cerebro.runtime.violations import Violations
from services.gateway.api.base import ApiBase
from services.gateway.call import caller
from services.gateway.learning_delivery import PROVENANCE_KEY
from services.gateway.store.learnings import LearningRecord

MAX_CONCEPT_CHARS = 500
MAX_DEFINITION_BYTES = 262_144
# The memory service takes 65,536 bytes of relationships; the provenance added to each copy fits in the rest.
MAX_RELATIONSHIPS_BYTES = 65_000
MAX_ACKNOWLEDGED = 1000
SEND_BATCH = 100


def learning_message(record: LearningRecord) -> resources_pb2.Learning:
    relationships = stored_struct(record.relationships, f"learning {record.learning_id} relationships")
    published = timestamp_pb2.Timestamp()
    published.FromDatetime(record.published_at)
    message = resources_pb2.Learning(
        learning_id=str(record.learning_id),
        publisher=record.publisher,
        concept=record.concept,
        definition=record.definition,
        relationships=relationships,
        publish_time=published,
    )
    if record.confidence is not None:
        message.confidence = record.confidence
    return message


class LearningApi(ApiBase):
    async def PublishLearning(
        self, request: pb.PublishLearningRequest, context: grpc.aio.ServicerContext
    ) -> pb.PublishLearningResponse:
        learning = request.learning
        violations = Violations()
        learning_id = violations.uuid("learning.learning_id", learning.learning_id, required=False)
        violations.text("learning.concept", learning.concept, max_chars=MAX_CONCEPT_CHARS)
        violations.text("learning.definition", learning.definition, required=False, max_bytes=MAX_DEFINITION_BYTES)
        if PROVENANCE_KEY in learning.relationships.fields:
            violations.add(f"learning.relationships.{PROVENANCE_KEY}", "is reserved for the receivers' provenance")
        relationships = violations.struct(
            "learning.relationships", learning.relationships, max_bytes=MAX_RELATIONSHIPS_BYTES
        )
        confidence = None
        if learning.HasField("confidence"):
            confidence = violations.fraction("learning.confidence", learning.confidence)
        violations.raise_if_any()
        record, recipient_count = await self.resources.learnings.publish(
            learning_id or uuid.uuid4(),
            caller().namespace,
            learning.concept,
            learning.definition,
            relationships,
            confidence,
        )
        return pb.PublishLearningResponse(learning=learning_message(record), recipient_count=recipient_count)

    async def SubscribeLearnings(
        self, request: pb.SubscribeLearningsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.SubscribeLearningsResponse]:
        namespace = await self.own_namespace()
        store, signals = self.resources.learnings, self.resources.signals
        await store.subscribe(namespace)
        sent: list[int] = []
        with signals.stream_waiter(namespace) as stored:
            while True:
                # Cleared before looking, so a delivery stored meanwhile is either seen now or wakes us.
                stored.clear()
                deliveries = await store.unsent(namespace, sent, SEND_BATCH)
                for delivery in deliveries:
                    yield pb.SubscribeLearningsResponse(
                        learning=learning_message(delivery.learning),
                        semantic_memory_id=str(delivery.semantic_memory_id),
                    )
                    sent.append(delivery.sequence)
                if not deliveries:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stored.wait(), self.resources.settings.learning_poll_seconds)

    async def AcknowledgeLearnings(
        self, request: pb.AcknowledgeLearningsRequest, context: grpc.aio.ServicerContext
    ) -> pb.AcknowledgeLearningsResponse:
        violations = Violations()
        ids = []
        if violations.required("learning_ids", bool(request.learning_ids)):
            ids = violations.uuids("learning_ids", request.learning_ids, max_items=MAX_ACKNOWLEDGED)
        violations.raise_if_any()
        count = await self.resources.learnings.acknowledge(caller().namespace, ids)
        return pb.AcknowledgeLearningsResponse(acknowledged_count=count)
