"""Fixtures of the transcoder tests: the transcoder in front of a scripted gRPC service, and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import grpc
import pytest

from cerebro.transcoding.routes import build_route_table
from cerebro.transcoding.server import ServerSettings, running_transcoder
from tests.transcoding.scripted_server import SAMPLE_SERVICE, ScriptedServer, scripted_server

# Small, so that the 413 test sends little.
MAX_BODY_BYTES = 64 * 1024
DEFAULT_TIMEOUT_SECONDS = 7.0
SETTINGS = ServerSettings(port=0, max_body_bytes=MAX_BODY_BYTES, default_timeout_seconds=DEFAULT_TIMEOUT_SECONDS)


def loopback_channel(target: str) -> grpc.aio.Channel:
    """A channel as a transcoder wants one: no retries, since the HTTP client decides."""
    return grpc.aio.insecure_channel(target, options=[("grpc.enable_retries", 0)])


@dataclass
class ScriptedFace:
    server: ScriptedServer
    http: aiohttp.ClientSession
    base_url: str


@pytest.fixture(scope="session")
async def scripted_face() -> AsyncIterator[ScriptedFace]:
    async with scripted_server() as (server, grpc_port):
        channel = loopback_channel(f"127.0.0.1:{grpc_port}")
        try:
            async with running_transcoder(
                channel, build_route_table(SAMPLE_SERVICE), SETTINGS, "127.0.0.1"
            ) as http_port:
                base_url = f"http://127.0.0.1:{http_port}"
                async with aiohttp.ClientSession(base_url) as http:
                    yield ScriptedFace(server, http, base_url)
        finally:
            await channel.close()


@pytest.fixture
def face(scripted_face: ScriptedFace) -> ScriptedFace:
    """The scripted face with no scripts and no recorded calls."""
    scripted_face.server.reset()
    return scripted_face
