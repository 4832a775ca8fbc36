"""Serving the HTTP/JSON face: an aiohttp server whose one handler transcodes to the gateway's gRPC port.

aiohttp runs in the gateway's own event loop beside grpc.aio, reads bodies with a size limit (413
beyond it), streams responses, and cancels a handler when its client disconnects (which cancels the
gRPC call behind it). Its connections are limited as :mod:`services.gateway.http.connections` says.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
from aiohttp import web

from cerebro.runtime.channels import channel_credentials
from cerebro.runtime.config import MAX_MESSAGE_BYTES, ServiceSettings, TlsSettings, host_port, local_host
from cerebro.runtime.response_checks import decoding_interceptors
from services.gateway.http.connections import GuardedServer
from services.gateway.http.gateway_api import OPENAPI_PATH, openapi_document, route_table
from services.gateway.http.handler import HttpHandler
from services.gateway.http.proxy import GrpcProxy
from services.gateway.http.settings import HttpSettings

log = logging.getLogger(__name__)


def build_server(channel: grpc.aio.Channel, settings: HttpSettings, client_proof: str | None) -> GuardedServer:
    table = route_table()
    document = json.dumps(openapi_document(table), ensure_ascii=False).encode("utf-8")
    handler = HttpHandler(
        table,
        GrpcProxy(channel, table.routes),
        {OPENAPI_PATH: document},
        default_timeout=settings.default_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        client_proof=client_proof,
    )
    # Every path goes to the handler, which routes by the route table.
    return GuardedServer(
        handler.handle,
        max_connections_per_client=settings.max_connections_per_client,
        read_timeout_seconds=settings.read_timeout_seconds,
        client_max_size=settings.max_body_bytes,
        handler_cancellation=True,
        access_log=None,
    )


@asynccontextmanager
async def running_http_face(
    channel: grpc.aio.Channel,
    settings: HttpSettings,
    host: str,
    *,
    tls: TlsSettings | None = None,
    grace_seconds: float = 10.0,
    client_proof: str | None = None,
) -> AsyncIterator[int]:
    """Serve HTTP on ``host``:``settings.port`` until the block ends; yields the bound port.

    With ``client_proof`` (the gateway's ``http_face_proof``), each call carries its client's address.
    """
    runner = web.ServerRunner(build_server(channel, settings, client_proof), shutdown_timeout=grace_seconds)
    await runner.setup()
    try:
        ssl_context = server_ssl_context(tls) if tls is not None else None
        site = web.TCPSite(runner, host, settings.port, ssl_context=ssl_context)
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def serve_http_face(
    service: ServiceSettings, settings: HttpSettings, grpc_port: int, client_proof: str | None = None
) -> None:
    """The HTTP face of the gateway serving gRPC on ``grpc_port`` of this host, until cancelled."""
    channel = open_gateway_channel(gateway_target(service.host, grpc_port), service.tls, service.advertise_host)
    try:
        async with running_http_face(
            channel,
            settings,
            service.host,
            tls=service.tls,
            grace_seconds=service.grace_seconds,
            client_proof=client_proof,
        ) as port:
            log.info("serving HTTP/JSON on port %s (OpenAPI document at %s)", port, OPENAPI_PATH)
            await asyncio.Event().wait()
    finally:
        await channel.close()


def gateway_target(host: str, grpc_port: int) -> str:
    """Where the gateway's gRPC server is reached from this process: loopback when it listens on all addresses."""
    return host_port(local_host(host), grpc_port)


def open_gateway_channel(target: str, tls: TlsSettings | None, server_name: str) -> grpc.aio.Channel:
    """A channel to the gateway itself: no retries and no default deadline (the HTTP client decides both).

    With TLS it presents this process's certificate and expects the gateway's to be valid for
    ``server_name`` (the advertised host), as it is for every other client.
    """
    options: list[tuple[str, Any]] = [
        ("grpc.enable_retries", 0),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=decoding_interceptors())
    options.append(("grpc.ssl_target_name_override", server_name))
    return grpc.aio.secure_channel(
        target, channel_credentials(tls), options=options, interceptors=decoding_interceptors()
    )


def server_ssl_context(tls: TlsSettings) -> ssl.SSLContext:
    """HTTPS with the gateway's certificate; with a CA, clients must present a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.ca_file is not None:
        context.load_verify_locations(tls.ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
