"""The gateway's limits against a greedy or guessing client, through real gRPC and PostgreSQL:
streams per credential, authentication failures per address, unknown key ids, duplicate credentials."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from cerebro.forwarded_client import FORWARDED_CLIENT_METADATA
from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.runtime.errors import ServiceError
from services.gateway.auth import Authenticator, FailureLimiter, StreamLimiter, TtlCache, bearer_token
from services.gateway.authentication import peer_address
from services.gateway.store.credentials import CredentialStore, Principal, Scope, StoredKey
from tests.gateway.harness import GatewayServer, Mesh, bearer, retry_delay_seconds
from tests.mcp.agents import MADE_UP_KEY, http_server, initialize_from


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def principal(credential: str = "key:0123456789abcdef") -> Principal:
    return Principal(credential, "nexus", Scope.READ_WRITE, None, None, None)


class TestParts:
    def test_two_authorization_entries_are_unauthenticated(self) -> None:
        with pytest.raises(ServiceError) as caught:
            bearer_token([("authorization", "Bearer crb_a"), ("authorization", "Bearer crb_b")])
        assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED
        assert "one authorization header, not 2" in caught.value.message

    def test_failures_are_limited_per_address_and_refill(self) -> None:
        clock = FakeClock()
        limiter = FailureLimiter(rate=0.5, burst=3, clock=clock)
        for _ in range(3):
            limiter.check("10.0.0.5")
            limiter.record_failure("10.0.0.5")
        with pytest.raises(ServiceError) as caught:
            limiter.check("10.0.0.5")
        assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        (retry_info,) = caught.value.details
        assert retry_info.retry_delay.ToNanoseconds() == 2_000_000_000
        limiter.check("10.0.0.6")  # another address is not affected
        clock.now += 2.0
        limiter.check("10.0.0.5")

    def test_failure_buckets_are_bounded_by_forgetting_refilled_ones(self) -> None:
        clock = FakeClock()
        limiter = FailureLimiter(rate=1.0, burst=2, clock=clock, max_peers=2)
        limiter.record_failure("a")
        limiter.record_failure("a")
        limiter.record_failure("b")
        clock.now += 10
        limiter.record_failure("c")  # both earlier buckets refilled and are forgotten
        limiter.record_failure("a")
        limiter.check("a")

    def test_streams_are_limited_per_credential(self) -> None:
        limiter = StreamLimiter(limit=2)
        with limiter.slot(principal()), limiter.slot(principal()):
            with pytest.raises(ServiceError) as caught, limiter.slot(principal()):
                pass
            assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
            with limiter.slot(principal("key:fedcba9876543210")):
                pass
        with limiter.slot(principal()), limiter.slot(principal()):
            pass

    def test_a_full_cache_drops_expired_then_oldest_entries(self) -> None:
        clock = FakeClock()
        cache: TtlCache[str, int] = TtlCache(5.0, clock, max_entries=2)
        cache.put("a", 1)
        clock.now += 3
        cache.put("b", 2)
        cache.put("c", 3)  # full: "a", the oldest, goes
        assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)
        clock.now += 3  # "b" expired
        cache.put("d", 4)
        assert (cache.get("c"), cache.get("d")) == (3, 4)

    def test_peer_addresses(self) -> None:
        assert peer_address("ipv4:10.0.0.5:4321") == "10.0.0.5"
        assert peer_address("ipv6:[::1]:50051") == "::1"
        assert peer_address("unix:/tmp/socket") == "unix:/tmp/socket"


class CountingStore(CredentialStore):
    """The real credential store, counting key lookups."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.key_lookups = 0

    async def key(self, key_id: str) -> StoredKey | None:
        self.key_lookups += 1
        return await super().key(key_id)


async def test_an_unknown_key_id_is_looked_up_once_per_cache_period(gateway_pool: asyncpg.Pool) -> None:
    clock = FakeClock()
    store = CountingStore(gateway_pool)
    authenticator = Authenticator(store, 5.0, clock, unknown_key_seconds=5.0)
    for _ in range(100):
        with pytest.raises(ServiceError):
            await authenticator.from_token(MADE_UP_KEY)
    assert store.key_lookups == 1
    clock.now += 5.0
    with pytest.raises(ServiceError):
        await authenticator.from_token(MADE_UP_KEY)
    assert store.key_lookups == 2


@contextlib.asynccontextmanager
async def limited_gateway(mesh: Mesh, name: str, **env: str) -> AsyncIterator[GatewayServer]:
    async with mesh.another_gateway(name, {f"CEREBRO_GATEWAY_{key.upper()}": value for key, value in env.items()}) as g:
        yield g


async def test_a_credential_may_hold_only_so_many_streams(mesh: Mesh, namespace: str) -> None:
    token = bearer((await mesh.issue(namespace)).token)
    async with limited_gateway(mesh, "streams", max_streams_per_credential="2") as gateway:
        request = pb.WatchDecisionsRequest()
        held = [gateway.stub.WatchDecisions(request, metadata=token) for _ in range(2)]
        try:
            for call in held:  # open: no failure within a moment
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(call.read()), 0.5)
            refused = gateway.stub.WatchDecisions(request, metadata=token)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await refused.read()
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert retry_delay_seconds(caught.value) > 0
            other = bearer((await mesh.issue(namespace)).token)
            another_credential = gateway.stub.WatchDecisions(request, metadata=other)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(another_credential.read()), 0.5)
            another_credential.cancel()
            held.pop().cancel()
            await asyncio.sleep(0.3)
            again = gateway.stub.WatchDecisions(request, metadata=token)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(again.read()), 0.5)
            held.append(again)
        finally:
            for call in held:
                call.cancel()


async def test_an_address_that_keeps_failing_authentication_is_slowed_down(mesh: Mesh, namespace: str) -> None:
    good = bearer((await mesh.issue(namespace)).token)
    async with limited_gateway(mesh, "failures", auth_failure_burst="5", auth_failure_rate_per_second="0.5") as gateway:
        request = pb.RecallRequest(query="x")
        codes = []
        for _ in range(7):
            try:
                await gateway.stub.Recall(request, metadata=bearer(MADE_UP_KEY))
            except grpc.aio.AioRpcError as error:
                codes.append(error.code())
        assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 5 + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
        # Every call from the address waits, valid keys included; then the address may try again.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await gateway.stub.Recall(request, metadata=good)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await asyncio.sleep(retry_delay_seconds(caught.value))
        await gateway.stub.Recall(request, metadata=good)
        # Public methods are never refused.
        await gateway.stub.GetHealth(pb.GetHealthRequest())


async def test_two_authorization_headers_are_unauthenticated(mesh: Mesh, namespace: str) -> None:
    token = (await mesh.issue(namespace)).token
    other = (await mesh.issue(namespace)).token
    metadata = (("authorization", f"Bearer {token}"), ("authorization", f"Bearer {other}"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.gateway.stub.Recall(pb.RecallRequest(query="x"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_client_cannot_pass_its_failures_off_as_another_address(mesh: Mesh) -> None:
    """Only the gateway's own HTTP face, holding the process's secret proof, may name the client address."""
    async with limited_gateway(mesh, "forged", auth_failure_burst="3", auth_failure_rate_per_second="0.1") as gateway:
        codes = []
        for index in range(5):
            forged = ((FORWARDED_CLIENT_METADATA, f"made-up-proof 10.9.9.{index}"), *bearer(MADE_UP_KEY))
            try:
                await gateway.stub.Recall(pb.RecallRequest(query="x"), metadata=forged)
            except grpc.aio.AioRpcError as error:
                codes.append(error.code())
    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 3 + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2


async def test_one_mcp_agents_bad_keys_do_not_lock_out_another(mesh: Mesh, namespace: str, tmp_path: Path) -> None:
    """Every MCP agent reaches the gateway from the MCP face's address: with the forwarding proof, the face
    names each agent's own address, and the gateway counts failures per agent."""
    good = (await mesh.issue(namespace)).token
    proof_file = tmp_path / "forwarding_proof"
    proof_file.write_text(secrets.token_urlsafe(32))
    limits = {"auth_failure_burst": "3", "auth_failure_rate_per_second": "0.001"}
    async with limited_gateway(mesh, "mcp-face", forwarding_proof_file=str(proof_file), **limits) as gateway:
        face_environ = {"CEREBRO_GATEWAY_TARGET": gateway.target, "CEREBRO_CLIENT_TIMEOUT_SECONDS": "60"}
        async with http_server({**face_environ, "CEREBRO_MCP_FORWARDING_PROOF_FILE": str(proof_file)}) as face:
            guessing = [await initialize_from(face.url, "127.0.0.2", MADE_UP_KEY) for _ in range(5)]
            assert guessing == [401, 401, 401, 429, 429]
            assert await initialize_from(face.url, "127.0.0.3", good) == 200
            async with mcp_agent(face.url, "127.0.0.3", good) as agent:
                remembered = await agent.call_tool("remember", {"content": "not locked out by another agent"})
            assert not remembered.is_error, remembered.content
            # The tools' calls name their agent too: an agent whose address is locked out (its key
            # admitted a moment before) gets RESOURCE_EXHAUSTED; the others go on.
            async with mcp_agent(face.url, "127.0.0.4", good) as locked:
                assert [await initialize_from(face.url, "127.0.0.4", MADE_UP_KEY) for _ in range(4)] == [401] * 3 + [
                    429
                ]
                refused = await locked.call_tool("remember", {"content": "from a locked-out address"})
                assert refused.is_error and "RESOURCE_EXHAUSTED" in str(refused.content), refused.content
            async with mcp_agent(face.url, "127.0.0.3", good) as agent:
                assert not (await agent.call_tool("recent_episodes", {})).is_error
        # A face without the proof is one address to the gateway: one agent's bad keys lock all out.
        async with http_server(face_environ) as face:
            guessing = [await initialize_from(face.url, "127.0.0.5", MADE_UP_KEY) for _ in range(4)]
            assert guessing == [401, 401, 401, 429]
            assert await initialize_from(face.url, "127.0.0.3", good) == 429


@contextlib.asynccontextmanager
async def mcp_agent(url: str, address: str, api_key: str) -> AsyncIterator[Client]:
    """The SDK's client to the MCP face at ``url``, from the loopback ``address``, with ``api_key``."""
    transport = httpx2.AsyncHTTPTransport(local_address=address)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with (
        httpx2.AsyncClient(transport=transport, headers=headers, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client
