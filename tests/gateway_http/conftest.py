"""Fixtures of the gateway's HTTP face tests: the face (as the gateway wires it) in front of a scripted
AgentGateway, and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from services.gateway.http.server import open_gateway_channel, running_http_face
from services.gateway.http.settings import HttpSettings

# Fixtures of the gateway tests, for the tests of the face in front of the real gateway.
from tests.gateway.conftest import gateway_database_url, mesh, namespace  # noqa: F401
from tests.gateway.test_mutual_tls import tls_gateway  # noqa: F401
from tests.transcoding.scripted_server import ScriptedServer, scripted_server


@dataclass
class ScriptedFace:
    server: ScriptedServer
    http: aiohttp.ClientSession
    base_url: str


@pytest.fixture(scope="session")
async def gateway_face() -> AsyncIterator[ScriptedFace]:
    async with scripted_server() as (server, grpc_port):
        channel = open_gateway_channel(f"127.0.0.1:{grpc_port}", None, "localhost")
        settings = HttpSettings(port=0, max_body_bytes=1024 * 1024, default_timeout_seconds=7.0)
        try:
            async with running_http_face(channel, settings, "127.0.0.1") as http_port:
                base_url = f"http://127.0.0.1:{http_port}"
                async with aiohttp.ClientSession(base_url) as http:
                    yield ScriptedFace(server, http, base_url)
        finally:
            await channel.close()


@pytest.fixture
def face(gateway_face: ScriptedFace) -> ScriptedFace:
    """The gateway's face over the scripted AgentGateway, with no scripts and no recorded calls."""
    gateway_face.server.reset()
    return gateway_face
