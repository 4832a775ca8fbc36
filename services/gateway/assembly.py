"""The gateway put together: its resources, API, guard and background tasks, independent of any server.

:func:`open_gateway` is what the gRPC process (services.gateway.main) serves, and what an HTTP/JSON
face in the same process uses: ``gateway.guard.admit(...)`` then ``gateway.api.<Method>(request, call)``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from cerebro.runtime.config import ConfigError, ServiceSettings
from cerebro.runtime.database import check_connection, open_pool
from services.gateway.adapter import GrpcAdapter
from services.gateway.api.base import GatewayResources
from services.gateway.api.gateway import GatewayApi
from services.gateway.auth import Authenticator, CallGuard, FailureLimiter, RateLimiter, StreamLimiter
from services.gateway.credentials import CredentialStore
from services.gateway.db import migrate_when_reachable
from services.gateway.discovery import Discovery
from services.gateway.health import HealthChecker
from services.gateway.learning_storer import LearningStorer
from services.gateway.learnings import LearningSignals, LearningStore
from services.gateway.namespaces import Namespaces
from services.gateway.notifications import CREDENTIALS_CHANNEL, LEARNINGS_CHANNEL, Listener
from services.gateway.replicas import ReplicaPool
from services.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gateway:
    api: GatewayApi
    guard: CallGuard
    pool: asyncpg.Pool
    settings: GatewaySettings
    # Run while the gateway serves (notifications, learning storage, discovery); cancelled at stop.
    background_tasks: list[Callable[[], Awaitable[None]]]
    # A secret of this process that its own HTTP face sends along with its clients' addresses, so that
    # the gRPC face counts authentication failures per HTTP client instead of per loopback connection.
    http_face_proof: str

    def grpc_servicer(self, *, trust_client_certificates: bool) -> GrpcAdapter:
        """The AgentGateway servicer for a gRPC server (client certificates count only under mutual TLS)."""
        return GrpcAdapter(
            self.api,
            self.guard,
            default_timeout=self.settings.downstream_timeout_seconds,
            trust_client_certificates=trust_client_certificates,
            http_face_proof=self.http_face_proof,
        )

    async def probe_postgres(self) -> None:
        await check_connection(self.pool)


@asynccontextmanager
async def open_gateway(service: ServiceSettings, settings: GatewaySettings) -> AsyncIterator[Gateway]:
    dsn = service.database_url
    if dsn is None:
        raise ConfigError("CEREBRO_DATABASE_URL (or CEREBRO_DATABASE_URL_FILE) is required by the gateway")
    if settings.apply_migrations:
        await migrate_when_reachable(dsn)
    pool = await open_pool(dsn, max_size=settings.pool_size)
    memory = ReplicaPool(
        "memory",
        memory_service_pb2_grpc.MemoryServiceStub,
        service.target("memory"),
        service.tls,
        service.region,
        health_service=memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name,
    )
    consensus = ReplicaPool(
        "consensus",
        consensus_pb2_grpc.ConsensusServiceStub,
        service.target("consensus"),
        service.tls,
        service.region,
        health_service=consensus_pb2.DESCRIPTOR.services_by_name["ConsensusService"].full_name,
    )
    embedder = ReplicaPool(
        "embedder",
        embedder_pb2_grpc.EmbedderServiceStub,
        service.target("embedder"),
        service.tls,
        service.region,
        health_service=embedder_pb2.DESCRIPTOR.services_by_name["EmbedderService"].full_name,
    )
    try:
        listener = Listener(dsn)
        authenticator = Authenticator(
            CredentialStore(pool), settings.auth_cache_seconds, unknown_key_seconds=settings.unknown_key_cache_seconds
        )
        listener.on(CREDENTIALS_CHANNEL, authenticator.invalidate)
        listener.on_reconnect(authenticator.clear)
        signals = LearningSignals()
        listener.on(LEARNINGS_CHANNEL, signals.notified)
        listener.on_reconnect(signals.wake_all)
        namespaces = Namespaces(memory)
        learnings = LearningStore(pool)
        pools = {"memory": memory, "consensus": consensus, "embedder": embedder}
        resources = GatewayResources(
            pool=pool,
            memory=memory,
            consensus=consensus,
            embedder=embedder,
            authenticator=authenticator,
            namespaces=namespaces,
            learnings=learnings,
            signals=signals,
            health=HealthChecker(pool, listener, pools),
            settings=settings,
            region=service.region,
        )
        storer = LearningStorer(learnings, memory, namespaces, signals, settings.learning_poll_seconds)
        background: list[Callable[[], Awaitable[None]]] = [listener.run, storer.run]
        if settings.discovery and service.tls is not None and service.tls.mutual:
            background.append(Discovery(consensus, pools).run)
        elif settings.discovery:
            log.warning(
                "discovery is off: without mutual TLS (CEREBRO_TLS_CERT_FILE, _KEY_FILE, _CA_FILE) a registered "
                "replica cannot prove what it is, so only the static CEREBRO_<SERVICE>_TARGETs are used"
            )
        yield Gateway(
            api=GatewayApi(resources),
            guard=CallGuard(
                authenticator,
                RateLimiter(settings.rate_per_second, settings.burst),
                FailureLimiter(settings.auth_failure_rate_per_second, settings.auth_failure_burst),
                StreamLimiter(settings.max_streams_per_credential),
            ),
            http_face_proof=secrets.token_urlsafe(32),
            pool=pool,
            settings=settings,
            background_tasks=background,
        )
    finally:
        for replicas in (memory, consensus, embedder):
            await replicas.close()
        await pool.close()
