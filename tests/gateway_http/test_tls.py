"""With CEREBRO_TLS_* set: HTTPS with the gateway's certificate, client certificates required, TLS to gRPC."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from cerebro.runtime.config import TlsSettings
from services.gateway.http.server import open_gateway_channel, running_http_face
from services.gateway.http.settings import HttpSettings
from tests.gateway.harness import GatewayServer, issue_key
from tests.gateway.test_mutual_tls import Authority

SERVER_NAME = "localhost"  # the name tls_gateway's certificate is issued for


@pytest.fixture
async def https_port(tls_gateway: tuple[Authority, GatewayServer], tmp_path: Path) -> AsyncIterator[int]:
    authority, gateway = tls_gateway
    tls = TlsSettings(
        cert_file=tmp_path / f"{SERVER_NAME}.crt", key_file=tmp_path / f"{SERVER_NAME}.key", ca_file=authority.ca_file
    )
    channel = open_gateway_channel(gateway.target, tls, SERVER_NAME)
    settings = HttpSettings(port=0, max_body_bytes=1024 * 1024, default_timeout_seconds=10.0)
    try:
        async with running_http_face(channel, settings, "127.0.0.1", tls=tls) as port:
            yield port
    finally:
        await channel.close()


def client_context(authority: Authority, identity: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(authority.ca_file))
    if identity is not None:
        authority.issue(identity)
        context.load_cert_chain(authority.directory / f"{identity}.crt", authority.directory / f"{identity}.key")
    return context


async def test_https_with_a_client_certificate_and_a_key_reaches_the_gateway_over_tls(
    tls_gateway: tuple[Authority, GatewayServer],
    https_port: int,
    gateway_database_url: str,
) -> None:
    authority, _ = tls_gateway
    token = (await issue_key(gateway_database_url, "nexus-tls")).token
    url = f"https://127.0.0.1:{https_port}/neural-mesh/emotional-sync"
    context = client_context(authority, "agent-client")
    async with aiohttp.ClientSession() as http:
        with_key = await http.get(
            url, ssl=context, server_hostname=SERVER_NAME, headers={"Authorization": f"Bearer {token}"}
        )
        assert with_key.status == 200, await with_key.text()
        # The face presents the gateway's own certificate to gRPC: no credential, unless someone bound it.
        without_key = await http.get(url, ssl=context, server_hostname=SERVER_NAME)
        assert without_key.status == 401


async def test_a_client_without_a_certificate_is_refused_at_the_handshake(
    tls_gateway: tuple[Authority, GatewayServer],
    https_port: int,
) -> None:
    authority, _ = tls_gateway
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            response = await http.get(
                f"https://127.0.0.1:{https_port}/health",
                ssl=client_context(authority, None),
                server_hostname=SERVER_NAME,
            )
            await response.read()
