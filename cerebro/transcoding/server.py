"""Serving a route table over HTTP: an aiohttp server whose one handler transcodes onto a gRPC channel.

aiohttp runs in the caller's event loop (beside a grpc.aio server, for instance), reads bodies with a
size limit (413 beyond it), streams responses, and cancels a handler when its client disconnects
(which cancels the gRPC call behind it). Its connections are limited as :mod:`.connections` says.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from aiohttp import web

from cerebro.runtime.config import TlsSettings
from cerebro.transcoding.connections import GuardedServer
from cerebro.transcoding.handler import ClientAddress, HttpHandler
from cerebro.transcoding.proxy import GrpcProxy
from cerebro.transcoding.routes import RouteTable


@dataclass(frozen=True)
class ServerSettings:
    # 0 picks any free port.
    port: int
    # Larger bodies are refused with 413.
    max_body_bytes: int
    # Deadline of a unary call whose request names none (streams have none unless asked).
    default_timeout_seconds: float
    # How long a client may take to send a request's head (from connecting, or from its previous
    # response: an idle connection closes after it too) and, once the head is in, its body.
    read_timeout_seconds: float = 15.0
    # Connections one client address may hold open; more are answered 429 and closed.
    max_connections_per_client: int = 64


def build_server(
    channel: grpc.aio.Channel,
    table: RouteTable,
    settings: ServerSettings,
    documents: Mapping[str, bytes],
    client_address: ClientAddress | None,
) -> GuardedServer:
    handler = HttpHandler(
        table,
        GrpcProxy(channel, table.routes),
        documents,
        default_timeout=settings.default_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        client_address=client_address,
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
async def running_transcoder(
    channel: grpc.aio.Channel,
    table: RouteTable,
    settings: ServerSettings,
    host: str,
    *,
    documents: Mapping[str, bytes] | None = None,
    tls: TlsSettings | None = None,
    grace_seconds: float = 10.0,
    client_address: ClientAddress | None = None,
) -> AsyncIterator[int]:
    """Serve ``table`` over HTTP on ``host``:``settings.port`` until the block ends; yields the bound port.

    ``documents`` are served as they are on GET of their path (an OpenAPI document, say).
    """
    server = build_server(channel, table, settings, documents or {}, client_address)
    runner = web.ServerRunner(server, shutdown_timeout=grace_seconds)
    await runner.setup()
    try:
        ssl_context = server_ssl_context(tls) if tls is not None else None
        site = web.TCPSite(runner, host, settings.port, ssl_context=ssl_context)
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


def server_ssl_context(tls: TlsSettings) -> ssl.SSLContext:
    """HTTPS with the certificate of ``tls``; with a CA, clients must present a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.ca_file is not None:
        context.load_verify_locations(tls.ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
