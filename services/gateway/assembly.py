"""The gateway put together: its servicer, authentication interceptor and background tasks, from a pool.

:func:`open_gateway` builds what services.gateway.main adds to its ServiceHost. The HTTP/JSON face is
not part of it: it runs beside the gRPC server and calls it over loopback gRPC, so its calls pass the
same interceptor (services.gateway.http).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from cerebro.runtime.config import ServiceSettings
from cerebro.runtime.notifications import Listener
from cerebro.runtime.read_tokens import ForwardReadTokens
from services.gateway.api.base import GatewayResources
from services.gateway.api.servicer import GatewayServicer
from services.gateway.auth import Authenticator, CallGuard, FailureLimiter, RateLimiter, StreamLimiter
from services.gateway.authentication import AuthenticationInterceptor
from services.gateway.discovery import Discovery
from services.gateway.emotion_signals import EmotionSignals
from services.gateway.health import HealthChecker
from services.gateway.learning_delivery import LearningDeliveryWorker
from services.gateway.learning_signals import LearningSignals
from services.gateway.namespaces import Namespaces
from services.gateway.replicas import ReplicaPool
from services.gateway.settings import GatewaySettings
from services.gateway.store.channels import CREDENTIALS_CHANNEL, EMOTIONS_CHANNEL, LEARNINGS_CHANNEL, TASKS_CHANNEL
from services.gateway.store.credentials import CredentialStore
from services.gateway.store.learnings import LearningStore
from services.gateway.store.tasks import TaskStore
from services.gateway.task_redistribution import TaskRedistributor
from services.gateway.task_signals import TaskSignals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gateway:
    servicer: GatewayServicer
    guard: CallGuard
    settings: GatewaySettings
    # Run while the gateway serves (notifications, learning delivery, task redistribution, discovery);
    # cancelled at stop.
    background_tasks: list[Callable[[], Awaitable[None]]]
    # A secret of this process that its own HTTP face sends along with its clients' addresses, so that
    # authentication failures are counted per HTTP client instead of per loopback connection.
    http_face_proof: str

    def authentication(self, *, trust_client_certificates: bool) -> AuthenticationInterceptor:
        """The interceptor admitting every AgentGateway call (client certificates count only under mutual TLS)."""
        proofs = [self.http_face_proof]
        if self.settings.forwarding_proof is not None:
            proofs.append(self.settings.forwarding_proof)
        return AuthenticationInterceptor(
            self.guard,
            default_timeout=self.settings.downstream_timeout_seconds,
            trust_client_certificates=trust_client_certificates,
            forwarding_proofs=proofs,
        )


@asynccontextmanager
async def open_gateway(
    service: ServiceSettings, settings: GatewaySettings, pool: asyncpg.Pool, database_url: str
) -> AsyncIterator[Gateway]:
    """The gateway on ``pool`` (migrated); ``database_url`` is where its notifications are listened to."""
    memory = ReplicaPool(
        "memory",
        memory_service_pb2_grpc.MemoryServiceStub,
        service.target("memory"),
        service.tls,
        service.region,
        health_service=memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name,
        interceptors=[ForwardReadTokens()],
    )
    consensus = ReplicaPool(
        "consensus",
        consensus_pb2_grpc.ConsensusServiceStub,
        service.target("consensus"),
        service.tls,
        service.region,
        health_service=consensus_pb2.DESCRIPTOR.services_by_name["ConsensusService"].full_name,
        interceptors=[ForwardReadTokens()],
    )
    embedder = ReplicaPool(
        "embedder",
        embedder_pb2_grpc.EmbedderServiceStub,
        service.target("embedder"),
        service.tls,
        service.region,
        health_service=embedder_pb2.DESCRIPTOR.services_by_name["EmbedderService"].full_name,
    )
    pools: dict[str, ReplicaPool[Any]] = {"memory": memory, "consensus": consensus, "embedder": embedder}
    try:
        listener = Listener(database_url, "gateway")
        authenticator = Authenticator(
            CredentialStore(pool), settings.auth_cache_seconds, unknown_key_seconds=settings.unknown_key_cache_seconds
        )
        listener.on(CREDENTIALS_CHANNEL, authenticator.invalidate)
        listener.on_reconnect(authenticator.clear)
        signals = LearningSignals()
        listener.on(LEARNINGS_CHANNEL, signals.notified)
        listener.on_reconnect(signals.wake_all)
        emotion_signals = EmotionSignals()
        listener.on(EMOTIONS_CHANNEL, emotion_signals.notified)
        listener.on_reconnect(emotion_signals.wake_all)
        task_signals = TaskSignals()
        listener.on(TASKS_CHANNEL, task_signals.notified)
        listener.on_reconnect(task_signals.wake_all)
        tasks = TaskStore(pool)
        namespaces = Namespaces(memory)
        learnings = LearningStore(pool, worker_id=f"gateway {socket.gethostname()}:{os.getpid()}")
        resources = GatewayResources(
            pool=pool,
            memory=memory,
            consensus=consensus,
            embedder=embedder,
            authenticator=authenticator,
            namespaces=namespaces,
            learnings=learnings,
            signals=signals,
            emotion_signals=emotion_signals,
            tasks=tasks,
            task_signals=task_signals,
            health=HealthChecker(pool, listener, pools),
            settings=settings,
            region=service.region,
        )
        delivery = LearningDeliveryWorker(learnings, memory, namespaces, signals, settings.learning_poll_seconds)
        redistribution = TaskRedistributor(
            tasks,
            consensus,
            poll_seconds=settings.task_poll_seconds,
            acknowledge_seconds=settings.task_acknowledge_seconds,
            load_window_seconds=settings.task_load_window_seconds,
        )
        background: list[Callable[[], Awaitable[None]]] = [listener.run, delivery.run, redistribution.run]
        if settings.discovery and service.tls is not None and service.tls.mutual:
            background.append(Discovery(consensus, pools).run)
        elif settings.discovery:
            log.warning(
                "discovery is off: without mutual TLS (CEREBRO_TLS_CERT_FILE, _KEY_FILE, _CA_FILE) a registered "
                "replica cannot prove what it is, so only the static CEREBRO_<SERVICE>_TARGETs are used"
            )
        yield Gateway(
            servicer=GatewayServicer(resources),
            guard=CallGuard(
                authenticator,
                RateLimiter(settings.rate_per_second, settings.burst),
                FailureLimiter(settings.auth_failure_rate_per_second, settings.auth_failure_burst),
                StreamLimiter(settings.max_streams_per_credential),
            ),
            http_face_proof=secrets.token_urlsafe(32),
            settings=settings,
            background_tasks=background,
        )
    finally:
        for replicas in pools.values():
            await replicas.close()
