"""The gateway process (`cerebro serve gateway`): AgentGateway on gRPC port 50051, HTTP/JSON on 8080."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cerebro.gateway.v1 import gateway_pb2_grpc
from cerebro.runtime.config import ServiceSettings
from cerebro.runtime.database import require_database_url
from cerebro.runtime.process import run_process
from cerebro.runtime.read_tokens import read_tokens_interceptor
from cerebro.runtime.server import ServiceHost
from services.gateway.access import SERVICE
from services.gateway.assembly import open_gateway
from services.gateway.http.server import serve_http_face
from services.gateway.http.settings import HttpSettings
from services.gateway.settings import GatewaySettings
from services.gateway.store.schema import SCHEMA


@asynccontextmanager
async def lifespan(
    host: ServiceHost, settings: GatewaySettings, http_settings: HttpSettings | None = None
) -> AsyncIterator[None]:
    """Without ``http_settings``, only the gRPC face is served."""
    database_url = require_database_url(host.settings.database_url, "the gateway")
    pool = await host.add_postgres(SCHEMA if settings.apply_migrations else None, max_size=settings.pool_size)
    async with open_gateway(host.settings, settings, pool, database_url) as gateway:
        if not settings.serve_tls:
            host.serve_plaintext()
        # Client certificates are credentials only where the server verified them (mutual TLS).
        host.add_interceptor(gateway.authentication(trust_client_certificates=host.requires_client_certificates))
        host.add_interceptor(read_tokens_interceptor())
        host.add_service(SERVICE, gateway_pb2_grpc.add_AgentGatewayServicer_to_server, gateway.servicer)
        for task in gateway.background_tasks:
            host.add_background_task(task)
        if http_settings is not None:
            # The HTTP face transcodes onto our own gRPC port (bound before background tasks start),
            # so auth, limits and errors are exactly gRPC's; at shutdown it drains before gRPC stops.
            face = host.settings if settings.serve_tls else dataclasses.replace(host.settings, tls=None)

            async def serve_http() -> None:
                if host.bound_port is None:
                    raise RuntimeError("background tasks start after the gRPC port is bound")
                await serve_http_face(face, http_settings, host.bound_port, gateway.http_face_proof)

            host.add_background_task(serve_http)
        yield


async def serve(settings: ServiceSettings) -> None:
    gateway_settings = GatewaySettings.from_env()
    http_settings = HttpSettings.from_env()
    host = ServiceHost(settings)
    await host.serve(lambda h: lifespan(h, gateway_settings, http_settings))


def main() -> None:
    run_process("gateway", serve)


if __name__ == "__main__":
    main()
