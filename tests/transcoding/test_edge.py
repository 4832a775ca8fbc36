"""The HTTP face as an edge: values no service accepts, requests aiohttp cannot parse, slow and greedy clients.

Bodies go over raw sockets where an HTTP client library would refuse to send them (a 10 KB request
line, a head trickled byte by byte).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest
from multidict import CIMultiDict

from cerebro.runtime.safe_values import MAX_JSON_DEPTH
from cerebro.transcoding.routes import build_route_table
from cerebro.transcoding.server import ServerSettings, running_transcoder
from tests.transcoding.conftest import MAX_BODY_BYTES, ScriptedFace, loopback_channel
from tests.transcoding.scripted_server import SAMPLE_SERVICE, ScriptedServer, scripted_server

READ_TIMEOUT_SECONDS = 1.0
MAX_CONNECTIONS = 3
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def fields_of(status: dict[str, Any]) -> list[str]:
    (bad_request,) = status["details"]
    assert bad_request["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    return [violation["field"] for violation in bad_request["fieldViolations"]]


@contextlib.asynccontextmanager
async def limited_face() -> AsyncIterator[tuple[ScriptedServer, int]]:
    """A face with a short read timeout and a small per-client connection cap."""
    async with scripted_server() as (server, grpc_port):
        channel = loopback_channel(f"127.0.0.1:{grpc_port}")
        settings = ServerSettings(
            port=0,
            max_body_bytes=MAX_BODY_BYTES,
            default_timeout_seconds=5.0,
            read_timeout_seconds=READ_TIMEOUT_SECONDS,
            max_connections_per_client=MAX_CONNECTIONS,
        )
        try:
            async with running_transcoder(channel, build_route_table(SAMPLE_SERVICE), settings, "127.0.0.1") as port:
                yield server, port
        finally:
            await channel.close()


async def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the response's status, headers (lowercase names) and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), timeout=10)
    return int(status_line.split()[1]), headers, body


class TestValuesNoServiceAccepts:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (b'{"content": "x", "importance": 1e400}', "importance"),
            (b'{"content": "x", "metadata": {"ok": 1.5, "ratio": -1e400}}', "metadata.ratio"),
            (b'{"content": "x", "action_details": {"list": [1, 2, 1e999]}}', "action_details.list[2]"),
        ],
    )
    async def test_1e400_is_a_field_error(self, face: ScriptedFace, body: bytes, field: str) -> None:
        response = await face.http.post("/memory/action", data=body, headers={"Content-Type": "application/json"})
        assert response.status == 400
        status = await response.json()
        assert status["code"] == INVALID_ARGUMENT
        assert fields_of(status) == [field]
        assert not [call for call in face.server.calls if call.method == "Remember"]

    @pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 40, 150, 900])
    async def test_a_struct_nested_past_the_limit_is_a_field_error(self, face: ScriptedFace, depth: int) -> None:
        response = await face.http.post("/memory/action", json={"content": "x", "action_details": nested(depth)})
        assert response.status == 400
        status = await response.json()
        assert fields_of(status) == ["action_details"]
        assert "levels deep" in status["message"]

    async def test_the_limit_itself_is_accepted(self, face: ScriptedFace) -> None:
        response = await face.http.post("/memory/action", json={"content": "x", "metadata": nested(MAX_JSON_DEPTH)})
        assert response.status == 200

    async def test_json_too_deep_to_parse_is_a_400_not_a_500(self, face: ScriptedFace) -> None:
        body = b'{"content": "x", "action_details": {"a": ' + b"[" * 20_000 + b"]" * 20_000 + b"}}"
        response = await face.http.post("/memory/action", data=body, headers={"Content-Type": "application/json"})
        assert response.status == 400
        assert (await response.json())["code"] == INVALID_ARGUMENT


class TestRequestsAiohttpCannotParse:
    @pytest.mark.parametrize(
        "request_bytes",
        [
            pytest.param(b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="10KB-path"),
            pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 10_000 + b"\r\n\r\n", id="10KB-header"),
            pytest.param(b"NOT AN HTTP REQUEST AT ALL\r\n\r\n", id="bad-request-line"),
            pytest.param(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", id="bad-header"),
        ],
    )
    async def test_the_answer_is_a_google_rpc_status(self, face: ScriptedFace, request_bytes: bytes) -> None:
        port = int(face.base_url.rsplit(":", 1)[1])
        status, headers, body = await exchange(port, request_bytes)
        assert status == 400
        assert headers["content-type"].startswith("application/json")
        document = json.loads(body)
        assert set(document) == {"code", "message", "details"}
        assert document["code"] == INVALID_ARGUMENT
        assert document["message"].startswith("the request is not valid HTTP/1.1")
        assert b"aaaa" not in body and b"bbbb" not in body, "the offending bytes are not echoed"


class TestSlowAndGreedyClients:
    async def test_a_head_trickled_slowly_is_cut_off_after_the_read_timeout(self) -> None:
        async with limited_face() as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            loop = asyncio.get_running_loop()
            started = loop.time()

            async def trickle() -> None:
                writer.write(b"GET /health HTTP/1.1\r\n")
                for _ in range(40):  # one header byte every 0.2 s: 8 s if it were let through
                    await asyncio.sleep(0.2)
                    writer.write(b"X")
                    await writer.drain()

            trickling = asyncio.create_task(trickle())
            try:
                assert await asyncio.wait_for(reader.read(), timeout=READ_TIMEOUT_SECONDS + 3) == b""
                elapsed = loop.time() - started
            finally:
                trickling.cancel()
                await asyncio.gather(trickling, return_exceptions=True)
                writer.close()
        assert READ_TIMEOUT_SECONDS * 0.9 <= elapsed < READ_TIMEOUT_SECONDS + 3

    async def test_a_body_sent_too_slowly_is_408(self) -> None:
        async with limited_face() as (server, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /memory/action HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{"
            )
            await writer.drain()
            status, _, body = await read_response(reader)
            writer.close()
        assert status == 408
        assert json.loads(body)["code"] == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
        assert not server.calls

    async def test_connections_over_the_per_client_cap_are_429_with_retry_after(self) -> None:
        async with limited_face() as (_, port):
            held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(MAX_CONNECTIONS)]
            status, headers, body = await exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status == 429
            assert headers["retry-after"] == "1"
            assert json.loads(body)["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
            # The held connections still work, and closing one makes room for another.
            reader, writer = held[0]
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await read_response(reader))[0] == 200
            for _, writer in held:
                writer.close()
                await writer.wait_closed()
            await asyncio.sleep(0.2)
            async with aiohttp.ClientSession() as http:
                assert (await http.get(f"http://127.0.0.1:{port}/health")).status == 200


async def test_two_authorization_headers_are_401(face: ScriptedFace) -> None:
    headers = CIMultiDict([("Authorization", "Bearer crb_a"), ("Authorization", "Bearer crb_b")])
    response = await face.http.post("/memory/search", json={"query": "x"}, headers=headers)
    assert response.status == 401
    assert (await response.json())["message"] == "send one Authorization header, not 2"
    assert not face.server.calls
