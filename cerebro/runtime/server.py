"""The ``grpc.aio`` server bootstrap every Cerebro service runs on.

A service builds a :class:`ServiceHost`, and inside its *lifespan* (an async context manager that
opens and closes its resources) adds its servicers, the probes of the dependencies it needs, and
background tasks. The host adds what every service has: health, reflection, metrics, tracing, error
mapping, keepalive and message limits, TLS, and a graceful shutdown on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import asyncpg
import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from cerebro.runtime.config import MAX_MESSAGE_BYTES, ServiceSettings, TlsSettings
from cerebro.runtime.database import (
    Schema,
    check_connection,
    dsn_with_role,
    migrate_when_reachable,
    open_pool_when_reachable,
    require_database_url,
)
from cerebro.runtime.interceptors import CheckedRequests, ObservingInterceptor, map_errors, record_metrics
from cerebro.runtime.process import install_stop_handlers
from cerebro.runtime.registration import keep_registered
from cerebro.runtime.roles import CallerPolicy, Role
from cerebro.runtime.telemetry import start_metrics_server

log = logging.getLogger(__name__)

PROBE_INTERVAL_SECONDS = 2.0

SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Ping idle clients so dead peers (a region cut off mid-call) are noticed within ~40 s.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Accept client pings down to every 10 s; more frequent pings are abuse and get a GOAWAY.
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    # Recycle connections so clients re-resolve and spread over new replicas.
    ("grpc.max_connection_age_ms", 300_000),
    ("grpc.max_connection_age_grace_ms", 30_000),
    # A second process on the same port must fail loudly, not silently share it.
    ("grpc.so_reuseport", 0),
]

Lifespan = Callable[["ServiceHost"], contextlib.AbstractAsyncContextManager[None]]
DependencyProbe = Callable[[], Awaitable[None]]


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials:
    ca = tls.ca_file.read_bytes() if tls.ca_file else None
    return grpc.ssl_server_credentials(
        [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


class ServiceHost:
    """One gRPC server process: its services, dependency probes and background tasks."""

    def __init__(self, settings: ServiceSettings, *, handle_signals: bool = True) -> None:
        self.settings = settings
        self._handle_signals = handle_signals
        self.health = HealthServicer()
        self.bound_port: int | None = None
        self.bound_metrics_port: int | None = None
        self._services: list[tuple[ServiceDescriptor, Callable[[Any, grpc.aio.Server], None], object]] = []
        self._callers: dict[str, Collection[Role]] = {}
        self._serve_tls = settings.tls is not None
        self._probes: dict[str, DependencyProbe] = {}
        self._background: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._interceptors: list[grpc.aio.ServerInterceptor] = []
        self._resources = contextlib.AsyncExitStack()
        self._stopping = asyncio.Event()
        self._started = asyncio.Event()
        self.dependency_errors: dict[str, str] = {}

    def add_service(
        self,
        descriptor: ServiceDescriptor,
        add_to_server: Callable[[Any, grpc.aio.Server], None],
        servicer: object,
        *,
        callers: Collection[Role] | None = None,
    ) -> None:
        """Serve ``servicer``; under mutual TLS only to callers whose certificate proves one of ``callers``
        (None: any certificate of the mesh CA, as for health and reflection)."""
        self._services.append((descriptor, add_to_server, servicer))
        if callers is not None:
            self._callers[descriptor.full_name] = callers

    def serve_plaintext(self) -> None:
        """Serve without TLS even though ``CEREBRO_TLS_*`` is set: the certificate is then only this
        process's identity when it calls others (the gateway's agent-facing port on loopback or behind a
        TLS-terminating proxy). Call it in the lifespan, before the server starts."""
        self._serve_tls = False

    @property
    def requires_client_certificates(self) -> bool:
        """Whether every caller has presented a certificate of the mesh CA (and so has a verified role)."""
        return self._serve_tls and self.settings.tls is not None and self.settings.tls.mutual

    def add_interceptor(self, interceptor: grpc.aio.ServerInterceptor) -> None:
        """Run ``interceptor`` around every RPC of this server (in the order added): inside the host's own
        tracing, metrics, error mapping and caller check, so that its ServiceErrors become statuses, and
        outside the edge check of the request, so that a refused caller learns nothing about its input."""
        self._interceptors.append(interceptor)

    async def add_postgres(self, schema: Schema | None, *, role: str | None = None, max_size: int = 10) -> asyncpg.Pool:
        """A pool on ``CEREBRO_DATABASE_URL``, opened once PostgreSQL answers, closed at shutdown.

        ``schema``'s migrations are applied first (None: another process applies them, e.g. as the owner);
        sessions work as ``role`` when given; health is NOT_SERVING while PostgreSQL does not answer.
        """
        dsn = require_database_url(self.settings.database_url, self.settings.service)
        if schema is not None:
            await migrate_when_reachable(dsn, schema)
        pool = await open_pool_when_reachable(dsn_with_role(dsn, role), max_size=max_size)
        self._resources.push_async_callback(pool.close)

        async def probe() -> None:
            await check_connection(pool)

        self.add_dependency("postgres", probe)
        return pool

    def add_dependency(self, name: str, probe: DependencyProbe) -> None:
        """``probe()`` raises while ``name`` is unreachable; health is NOT_SERVING until it passes."""
        self._probes[name] = probe

    def add_background_task(self, run: Callable[[], Awaitable[None]]) -> None:
        """Started once the server is serving, cancelled at shutdown."""
        self._background.append(run)

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait_started(self) -> None:
        await self._started.wait()

    async def serve(self, lifespan: Lifespan) -> None:
        """Run until :meth:`request_stop`, SIGTERM or SIGINT, then shut down gracefully."""
        async with self._resources, lifespan(self):
            server = self._build_server()
            await server.start()
            if self.settings.metrics_port is not None:
                self.bound_metrics_port = start_metrics_server(self.settings.metrics_port, self.settings.host)
            if self._handle_signals:
                install_stop_handlers(self.request_stop)
            await self._update_health()
            self._tasks = [asyncio.create_task(self._probe_forever(), name="dependency-probes")]
            if self.settings.register_with_consensus:
                self.add_background_task(self._keep_registered)
            self._tasks += [asyncio.ensure_future(run()) for run in self._background]
            log.info(
                "serving %s on port %s (metrics on %s)",
                ", ".join(d.full_name for d, _, _ in self._services),
                self.bound_port,
                self.bound_metrics_port,
            )
            self._started.set()
            try:
                await self._stopping.wait()
            finally:
                await self._shutdown(server)

    async def _keep_registered(self) -> None:
        await keep_registered(self.settings, [self.settings.service], self.settings.endpoint(self.bound_port))

    def _build_server(self) -> grpc.aio.Server:
        interceptors: list[grpc.aio.ServerInterceptor] = [
            aio_server_interceptor(),
            ObservingInterceptor(record_metrics),
            ObservingInterceptor(map_errors),
        ]
        if self.requires_client_certificates:
            # Before any input check: a caller without the role learns nothing about the request.
            interceptors.append(ObservingInterceptor(CallerPolicy(self._callers).check))
        elif self._callers:
            log.warning(
                "no mutual TLS (CEREBRO_TLS_CERT_FILE, _KEY_FILE and _CA_FILE): callers of %s are not "
                "authenticated, so only the network keeps others out",
                ", ".join(self._callers),
            )
        interceptors += self._interceptors
        # Innermost: it replaces the request deserializer, so it must see the handler grpc built.
        interceptors.append(CheckedRequests())
        server = grpc.aio.server(interceptors=interceptors, options=SERVER_OPTIONS, maximum_concurrent_rpcs=None)
        names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
        for descriptor, add_to_server, servicer in self._services:
            add_to_server(servicer, server)
            names.append(descriptor.full_name)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(names, server)
        address = self.settings.address
        if self._serve_tls and self.settings.tls is not None:
            self.bound_port = server.add_secure_port(address, server_credentials(self.settings.tls))
        else:
            self.bound_port = server.add_insecure_port(address)
        return server

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
            await self._update_health()

    async def _update_health(self) -> None:
        errors: dict[str, str] = {}
        for name, probe in self._probes.items():
            try:
                await asyncio.wait_for(probe(), timeout=PROBE_INTERVAL_SECONDS)
            except Exception as exc:  # any failure of a probe means the dependency is not usable
                errors[name] = f"{type(exc).__name__}: {exc}"
        if errors != self.dependency_errors:
            for name, message in errors.items():
                log.warning("dependency %s unavailable: %s", name, message)
            for name in self.dependency_errors.keys() - errors.keys():
                log.info("dependency %s is back", name)
        self.dependency_errors = errors
        status = health_pb2.HealthCheckResponse.NOT_SERVING if errors else health_pb2.HealthCheckResponse.SERVING
        for name in ["", *(d.full_name for d, _, _ in self._services)]:
            await self.health.set(name, status)

    async def _shutdown(self, server: grpc.aio.Server) -> None:
        log.info("shutting down: NOT_SERVING, draining in-flight calls for up to %.1fs", self.settings.grace_seconds)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.health.enter_graceful_shutdown()
        await server.stop(self.settings.grace_seconds)
        log.info("stopped")
