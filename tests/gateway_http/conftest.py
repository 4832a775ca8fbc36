"""Fixtures of the HTTP/JSON face tests: the face in front of a scripted AgentGateway, and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from services.gateway.http.server import open_gateway_channel, running_http_face
from services.gateway.http.settings import HttpSettings
from tests.gateway_http.scripted_gateway import ScriptedGateway, scripted_gateway_server

# Small, so that the 413 test sends little.
MAX_BODY_BYTES = 64 * 1024
DEFAULT_TIMEOUT_SECONDS = 7.0


@dataclass
class ScriptedFace:
    gateway: ScriptedGateway
    http: aiohttp.ClientSession
    base_url: str


@pytest.fixture(scope="session")
async def scripted_face() -> AsyncIterator[ScriptedFace]:
    async with scripted_gateway_server() as (gateway, grpc_port):
        channel = open_gateway_channel(f"127.0.0.1:{grpc_port}", None, "localhost")
        settings = HttpSettings(port=0, max_body_bytes=MAX_BODY_BYTES, default_timeout_seconds=DEFAULT_TIMEOUT_SECONDS)
        try:
            async with running_http_face(channel, settings, "127.0.0.1") as http_port:
                base_url = f"http://127.0.0.1:{http_port}"
                async with aiohttp.ClientSession(base_url) as http:
                    yield ScriptedFace(gateway, http, base_url)
        finally:
            await channel.close()


@pytest.fixture
def face(scripted_face: ScriptedFace) -> ScriptedFace:
    """The scripted face with no scripts and no recorded calls."""
    scripted_face.gateway.reset()
    return scripted_face
