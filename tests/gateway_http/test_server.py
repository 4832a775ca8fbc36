"""serve_http_face: what the gateway process runs beside its gRPC server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from services.gateway.http.server import gateway_target, serve_http_face
from services.gateway.http.settings import HttpSettings
from tests.support import free_port, loopback_settings
from tests.transcoding.scripted_server import scripted_server


@pytest.mark.parametrize(
    ("host", "target"),
    [
        ("0.0.0.0", "127.0.0.1:50051"),
        ("::", "[::1]:50051"),
        ("10.1.2.3", "10.1.2.3:50051"),
        ("fd00::7", "[fd00::7]:50051"),
    ],
)
def test_the_gateway_is_reached_on_loopback_when_it_listens_everywhere(host: str, target: str) -> None:
    assert gateway_target(host, 50051) == target


async def test_the_face_serves_until_cancelled(tmp_path: Path) -> None:
    settings = HttpSettings.from_env({"CEREBRO_GATEWAY_HTTP_PORT": str(free_port())})
    async with scripted_server() as (server, grpc_port):
        serving = asyncio.create_task(serve_http_face(loopback_settings("gateway", tmp_path), settings, grpc_port))
        url = f"http://127.0.0.1:{settings.port}/health"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    response = await http.get(url)
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            assert response.status == 200
            assert [call.method for call in server.calls] == ["GetHealth"]
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(url)


def test_settings_come_from_the_environment() -> None:
    defaults = HttpSettings(port=8080, max_body_bytes=1024 * 1024, default_timeout_seconds=30.0)
    assert HttpSettings.from_env({}) == defaults
    custom = HttpSettings.from_env(
        {
            "CEREBRO_GATEWAY_HTTP_PORT": "0",
            "CEREBRO_GATEWAY_HTTP_MAX_BODY_BYTES": "2048",
            "CEREBRO_GATEWAY_HTTP_TIMEOUT_SECONDS": "2.5",
        }
    )
    assert custom == HttpSettings(port=0, max_body_bytes=2048, default_timeout_seconds=2.5)
