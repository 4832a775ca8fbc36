"""Failures reach the agent as typed exceptions with their details; idempotent calls survive a blip."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from cerebro.client import (
    AsyncCerebroClient,
    ClientSettings,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from cerebro.client.errors import FieldViolation
from services.gateway.store.credentials import Scope
from tests.client.conftest import Agent
from tests.gateway.harness import Mesh
from tests.tcp_proxy import TcpProxy


async def test_missing_or_unknown_keys_raise_unauthenticated(mesh: Mesh) -> None:
    for api_key in (None, "not-a-key"):
        async with AsyncCerebroClient(ClientSettings(target=mesh.gateway.target, api_key=api_key)) as client:
            with pytest.raises(Unauthenticated) as caught:
                await client.recall("anything")
            assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED


async def test_a_read_only_key_cannot_write(mesh: Mesh, namespace: str) -> None:
    issued = await mesh.issue(namespace, scope=Scope.READ_ONLY)
    async with AsyncCerebroClient(ClientSettings(target=mesh.gateway.target, api_key=issued.token)) as client:
        assert not (await client.recall("nothing yet")).hits
        with pytest.raises(PermissionDenied):
            await client.remember("forbidden")


async def test_bad_input_names_the_fields(client: AsyncCerebroClient) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await client.remember("   ", importance=2.0)
    fields = {violation.field for violation in caught.value.field_violations}
    assert {"content", "importance"} <= fields
    assert all(
        isinstance(violation, FieldViolation) and violation.description for violation in caught.value.field_violations
    )
    assert caught.value.one_line().startswith("INVALID_ARGUMENT: ")
    assert "content: " in caught.value.one_line()


async def test_the_rate_limit_says_when_to_retry(mesh: Mesh, namespace: str) -> None:
    issued = await mesh.issue(namespace, rate_per_second=0.01, burst=1)
    async with AsyncCerebroClient(ClientSettings(target=mesh.gateway.target, api_key=issued.token)) as client:
        await client.stats()
        with pytest.raises(ResourceExhausted) as caught:
            await client.stats()
    assert caught.value.retry_delay_seconds is not None and caught.value.retry_delay_seconds > 0


async def test_idempotent_calls_are_retried_through_an_outage_and_others_are_not(mesh: Mesh, agent: Agent) -> None:
    host, port = mesh.gateway.target.rsplit(":", 1)
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    settings = ClientSettings(target=f"127.0.0.1:{proxy.port}", api_key=agent.api_key, timeout_seconds=15)
    try:
        async with AsyncCerebroClient(settings) as client:
            await client.create_block("goals", "survive outages")
            await proxy.cut()
            # Not idempotent (each applied attempt bumps the version): fails at once, nothing retried.
            with pytest.raises(Unavailable):
                await client.update_block("goals", value="changed twice?")
            # The channel is now in transient failure: this call's first attempt fails the same way,
            # and the retry policy carries it to the gateway once the connection is back.
            recall = asyncio.ensure_future(client.get_block("goals"))
            await asyncio.sleep(0)
            await proxy.start()
            block = (await recall).block
    finally:
        await proxy.stop()
    assert block.value == "survive outages" and block.version == 1
