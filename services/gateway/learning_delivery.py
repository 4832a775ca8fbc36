"""The learning delivery worker: stores each delivery as semantic memory in its receiver's namespace.

Every replica runs one (a background task). It claims due deliveries from the outbox, a leased queue
(services.gateway.store.learnings), so replicas share the work; creates the semantic memory with a
request id derived from (learning id, namespace); and marks the delivery stored. A failure is retried
with backoff, for ever. Should a replica die after the memory service stored it but before marking,
its lease runs out, another replica claims the delivery, and its create returns the same memory: the
request id makes the store idempotent, so a learning is never stored twice in one namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import asyncpg
import grpc

from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from cerebro.memory.v1 import memory_service_pb2_grpc, semantic_pb2
from cerebro.runtime.errors import ServiceError
from cerebro.runtime.leased_queue import Claim
from cerebro.runtime.safe_values import stored_struct
from services.gateway.call import Deadline
from services.gateway.learning_signals import LearningSignals
from services.gateway.namespaces import Namespaces
from services.gateway.replicas import ReplicaPool
from services.gateway.store.learnings import LearningRecord, LearningStore, UnstoredDelivery

log = logging.getLogger(__name__)

BATCH_SIZE = 32
STORE_TIMEOUT_SECONDS = 10.0
# Fixed namespace of the uuid5 request ids: the same delivery always gets the same id.
REQUEST_ID_NAMESPACE = uuid.UUID("6f1b2a8e-4c1d-5e3f-9a7b-2c8d4e6f0a1b")
PROVENANCE_KEY = "learned_from"


def storage_request_id(learning_id: uuid.UUID, namespace: str) -> str:
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, f"{learning_id}/{namespace}"))


def semantic_memory_of(learning: LearningRecord) -> semantic_pb2.SemanticMemory:
    """The receiver's copy of a learning, with its provenance in the relationships."""
    relationships = stored_struct(learning.relationships, f"learning {learning.learning_id} relationships")
    relationships.update({PROVENANCE_KEY: {"publisher": learning.publisher, "learning_id": str(learning.learning_id)}})
    memory = semantic_pb2.SemanticMemory(
        concept=learning.concept, definition=learning.definition, relationships=relationships
    )
    if learning.confidence is not None:
        memory.confidence = learning.confidence
    return memory


class LearningDeliveryWorker:
    def __init__(
        self,
        store: LearningStore,
        memory: ReplicaPool[memory_service_pb2_grpc.MemoryServiceAsyncStub],
        namespaces: Namespaces,
        signals: LearningSignals,
        poll_seconds: float,
    ) -> None:
        self._store = store
        self._memory = memory
        self._namespaces = namespaces
        self._signals = signals
        self._poll_seconds = poll_seconds

    async def run(self) -> None:
        """Store deliveries until cancelled: at once when notified, else every poll interval."""
        while True:
            self._signals.store_wanted.clear()
            claimed = 0
            try:
                batch = await self._store.claim_unstored(BATCH_SIZE)
                claimed = len(batch.deliveries)
                outcomes = await asyncio.gather(
                    *(self._deliver(batch.claim, delivery) for delivery in batch.deliveries), return_exceptions=True
                )
                failures = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
                if failures:
                    raise failures[0]
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("learning deliveries: PostgreSQL unavailable (%s); retrying", exc)
            except Exception:
                # A bug must not end delivery for good: unmarked deliveries are claimed again after their lease.
                log.exception("learning deliveries: storing failed")
            if claimed == BATCH_SIZE:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._signals.store_wanted.wait(), self._poll_seconds)

    async def _deliver(self, claim: Claim, delivery: UnstoredDelivery) -> None:
        learning_id = delivery.learning.learning_id
        deadline = Deadline.after(STORE_TIMEOUT_SECONDS, STORE_TIMEOUT_SECONDS)
        request = memory_pb.CreateSemanticMemoryRequest(
            namespace=delivery.namespace,
            semantic_memory=semantic_memory_of(delivery.learning),
            request_id=storage_request_id(learning_id, delivery.namespace),
        )
        try:
            await self._namespaces.ensure(delivery.namespace, deadline)
            response = await self._memory.call(
                lambda stub, timeout: stub.CreateSemanticMemory(request, timeout=timeout), deadline, idempotent=True
            )
        except (grpc.aio.AioRpcError, ServiceError) as error:
            message = (error.details() if isinstance(error, grpc.aio.AioRpcError) else error.message) or ""
            log.warning(
                "learning %s for %s not stored (attempt %d): %s; retrying after a backoff",
                learning_id,
                delivery.namespace,
                delivery.attempts,
                message,
            )
            await self._store.mark_failed(claim, delivery, message)
            return
        await self._store.mark_stored(claim, delivery, uuid.UUID(response.semantic_memory.semantic_memory_id))
