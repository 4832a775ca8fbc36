"""Limits against greedy and guessing clients, against `cerebro up` with its default settings.

Clients on different addresses are simulated with source addresses on loopback (127.0.0.2, ...),
which the whole of 127.0.0.0/8 is.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from multidict import CIMultiDict

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import gateway_pb2_grpc
from services.gateway.http.settings import HttpSettings
from services.gateway.settings import GatewaySettings
from tests.bad_actors.conftest import UpMesh

pytestmark = pytest.mark.e2e

DEFAULTS = HttpSettings.from_env({})
GATEWAY_DEFAULTS = GatewaySettings.from_env({})
MADE_UP_KEY = "crb_0123456789abcdef." + "A" * 43


@contextlib.asynccontextmanager
async def http_client(source: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def retry_delay(error: grpc.aio.AioRpcError) -> float:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info.retry_delay.ToNanoseconds() / 1e9
    raise AssertionError("no RetryInfo")


async def test_slowloris_connections_are_cut_after_the_read_timeout(up_mesh: UpMesh) -> None:
    """The report's attack: 40 connections trickling a request head. Each is closed once the read
    timeout passes, and the face keeps serving everyone else meanwhile."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    connections = [
        await asyncio.open_connection("127.0.0.1", up_mesh.http_port, local_addr=("127.0.0.6", 0)) for _ in range(40)
    ]

    async def trickle(writer: asyncio.StreamWriter) -> None:
        writer.write(b"GET /health HTTP/1.1\r\n")
        with contextlib.suppress(ConnectionError):
            while True:
                await asyncio.sleep(1.0)
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()

    trickling = [asyncio.create_task(trickle(writer)) for _, writer in connections]
    try:
        async with http_client("127.0.0.7") as http:
            response = await http.get(f"{up_mesh.http_url}/health")
            assert response.status == 200
        limit = DEFAULTS.read_timeout_seconds + 10
        closed = await asyncio.wait_for(asyncio.gather(*(reader.read() for reader, _ in connections)), limit)
        elapsed = loop.time() - started
    finally:
        for task in trickling:
            task.cancel()
        await asyncio.gather(*trickling, return_exceptions=True)
        for _, writer in connections:
            writer.close()
    assert closed == [b""] * 40, "closed without an answer"
    assert DEFAULTS.read_timeout_seconds * 0.9 <= elapsed


async def test_one_address_cannot_hold_more_than_its_share_of_connections(up_mesh: UpMesh) -> None:
    cap = DEFAULTS.max_connections_per_client
    held = [
        await asyncio.open_connection("127.0.0.1", up_mesh.http_port, local_addr=("127.0.0.2", 0)) for _ in range(cap)
    ]
    try:
        await asyncio.sleep(0.2)
        async with http_client("127.0.0.2") as greedy:
            refused = await greedy.get(f"{up_mesh.http_url}/health")
            assert refused.status == 429
            assert int(refused.headers["Retry-After"]) >= 1
            assert (await refused.json())["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        async with http_client("127.0.0.3") as other:
            assert (await other.get(f"{up_mesh.http_url}/health")).status == 200
    finally:
        for _, writer in held:
            writer.close()


async def test_an_address_guessing_keys_is_slowed_down_and_others_are_not(up_mesh: UpMesh, namespace: str) -> None:
    """Over the HTTP face, whose calls all reach gRPC from loopback: failures count per HTTP client."""
    token = await up_mesh.issue_key(namespace)
    burst = GATEWAY_DEFAULTS.auth_failure_burst
    statuses = []
    async with http_client("127.0.0.4") as guesser:
        for _ in range(burst + 3):
            response = await guesser.post(
                f"{up_mesh.http_url}/memory/search",
                json={"query": "x"},
                headers={"Authorization": f"Bearer {MADE_UP_KEY}"},
            )
            statuses.append(response.status)
    assert statuses == [401] * burst + [429] * 3
    assert "Retry-After" in response.headers
    async with http_client("127.0.0.5") as honest:
        response = await honest.post(
            f"{up_mesh.http_url}/memory/search", json={"query": "x"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 200, await response.text()


async def test_two_authorization_headers_are_refused_on_both_faces(
    up_mesh: UpMesh, gateway: gateway_pb2_grpc.AgentGatewayStub, namespace: str
) -> None:
    mine, other = await up_mesh.issue_key(namespace), await up_mesh.issue_key(f"{namespace}-b")
    metadata = (("authorization", f"Bearer {mine}"), ("authorization", f"Bearer {other}"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.Recall(pb.RecallRequest(query="x"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    async with http_client("127.0.0.8") as http:
        headers = CIMultiDict([("Authorization", value) for _, value in metadata])
        response = await http.post(f"{up_mesh.http_url}/memory/search", json={"query": "x"}, headers=headers)
        assert response.status == 401


async def test_one_credential_cannot_hold_more_than_its_share_of_streams(
    up_mesh: UpMesh, gateway: gateway_pb2_grpc.AgentGatewayStub, namespace: str
) -> None:
    token = await up_mesh.issue_key(namespace)
    metadata = (("authorization", f"Bearer {token}"),)
    cap = GATEWAY_DEFAULTS.max_streams_per_credential
    held = [gateway.WatchDecisions(pb.WatchDecisionsRequest(), metadata=metadata) for _ in range(cap)]
    try:
        for call in held:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(call.read()), 0.3)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await gateway.WatchDecisions(pb.WatchDecisionsRequest(), metadata=metadata).read()
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_delay(caught.value) > 0
    finally:
        for call in held:
            call.cancel()


async def test_gateway_and_consensus_log_in_as_their_own_roles(up_mesh: UpMesh) -> None:
    """Not as the superuser `cerebro up` migrates with: their processes hold no URL of it."""
    for process, role in (("gateway", "cerebro_gateway"), ("consensus", "cerebro_consensus")):
        url = _database_url_of(process, up_mesh)
        assert urlsplit(url).username == role
        connection = await asyncpg.connect(url)
        try:
            assert await connection.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.fetch("SELECT * FROM memory.episodes")
        finally:
            await connection.close()
    owner = await asyncpg.connect(up_mesh.owner_url)
    try:
        users = {row["usename"] for row in await owner.fetch("SELECT DISTINCT usename FROM pg_stat_activity")}
    finally:
        await owner.close()
    assert {"cerebro_gateway", "cerebro_consensus"} <= users


def _database_url_of(process: str, up_mesh: UpMesh) -> str:
    """The database URL the running ``process`` of ``up_mesh`` was given (never the owner's)."""
    pid = next(
        pid
        for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
        if _argv(pid)[-2:] == ["serve", process] and _environ(pid).get("CEREBRO_DATA_DIR") == str(up_mesh.data_dir)
    )
    environ = _environ(pid)
    assert "CEREBRO_DATABASE_URL" not in environ
    return Path(environ["CEREBRO_DATABASE_URL_FILE"]).read_text(encoding="utf-8")


def _argv(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


def _environ(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            entries = handle.read().split(b"\0")
    except OSError:
        return {}
    return dict(entry.decode(errors="replace").partition("=")[::2] for entry in entries if b"=" in entry)
