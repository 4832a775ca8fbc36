"""Serving the gateway's HTTP/JSON face: the transcoder onto the gateway's own gRPC port, over loopback.

Every call of the face is a gRPC call of the gateway, so authentication, limits, error mapping,
metrics and tracing are exactly gRPC's. The face passes on each client's address with the gateway's
``http_face_proof``, so authentication failures are counted per HTTP client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc

from cerebro.forwarded_client import FORWARDED_CLIENT_METADATA
from cerebro.runtime.channels import channel_credentials
from cerebro.runtime.config import MAX_MESSAGE_BYTES, ServiceSettings, TlsSettings, host_port, local_host
from cerebro.runtime.response_checks import decoding_interceptors
from cerebro.transcoding.handler import ClientAddress
from cerebro.transcoding.server import running_transcoder
from services.gateway.http.gateway_api import OPENAPI_PATH, openapi_document, route_table
from services.gateway.http.settings import HttpSettings

log = logging.getLogger(__name__)


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
    """Serve AgentGateway over HTTP on ``host``:``settings.port`` until the block ends; yields the bound port.

    With ``client_proof`` (the gateway's ``http_face_proof``), each call carries its client's address.
    """
    table = route_table()
    document = json.dumps(openapi_document(table), ensure_ascii=False).encode("utf-8")
    async with running_transcoder(
        channel,
        table,
        settings,
        host,
        documents={OPENAPI_PATH: document},
        tls=tls,
        grace_seconds=grace_seconds,
        client_address=None if client_proof is None else ClientAddress(FORWARDED_CLIENT_METADATA, client_proof),
    ) as port:
        yield port


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
