"""A whole mesh in the test's event loop: consensus, memory (with the embedder double) and gateways.

Everything is real and talks over loopback gRPC; only the embedding model is the memory tests' double.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
from google.rpc import error_details_pb2, status_pb2

from cerebro.embedded import EmbeddedStack
from cerebro.gateway.v1 import gateway_pb2_grpc
from cerebro.runtime.server import ServiceHost
from services.gateway.main import lifespan
from services.gateway.settings import GatewaySettings
from services.gateway.store import keys
from services.memory.db import migrate as migrate_memory
from tests.consensus.harness import ConsensusServer, consensus_server
from tests.memory.embedder_double import EmbedderDouble
from tests.memory.helpers import MemoryServer, running_memory_service
from tests.support import loopback_settings, running_host

Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


@contextlib.asynccontextmanager
async def temporary_database(stack: EmbeddedStack) -> AsyncIterator[str]:
    """A new empty database, dropped afterwards."""
    name = f"test_gateway_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(stack.database_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    try:
        yield stack.postgres.url_for(name)
    finally:
        admin = await asyncpg.connect(stack.database_url)
        try:
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        finally:
            await admin.close()


async def issue_key(database_url: str, namespace: str, **options: object) -> keys.IssuedKey:
    connection = await asyncpg.connect(database_url)
    try:
        return await keys.issue_key(connection, namespace, **options)  # type: ignore[arg-type]
    finally:
        await connection.close()


@dataclass
class GatewayServer:
    host: ServiceHost
    target: str
    channel: grpc.aio.Channel
    stub: gateway_pb2_grpc.AgentGatewayStub


@contextlib.asynccontextmanager
async def gateway_server(
    database_url: str,
    data_dir: Path,
    *,
    memory_target: str,
    consensus_target: str,
    embedder_target: str,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[GatewayServer]:
    environ = {
        "CEREBRO_DATABASE_URL": database_url,
        "CEREBRO_MEMORY_TARGET": memory_target,
        "CEREBRO_CONSENSUS_TARGET": consensus_target,
        "CEREBRO_EMBEDDER_TARGET": embedder_target,
        "CEREBRO_GATEWAY_DISCOVERY": "false",
        "CEREBRO_GATEWAY_LEARNING_POLL_SECONDS": "0.5",
        # Every test of a module shares one gateway and one address (127.0.0.1), many of them sending bad
        # keys on purpose: the per-address failure limit would let one test's refusals fail the next.
        # tests/bad_actors tests that limit against cerebro up's defaults.
        "CEREBRO_GATEWAY_AUTH_FAILURE_BURST": "1000000",
        **(env or {}),
    }
    settings = loopback_settings("gateway", data_dir, environ)
    gateway_settings = GatewaySettings.from_env(environ)
    async with running_host(settings, lambda host: lifespan(host, gateway_settings)) as host:
        target = f"127.0.0.1:{host.bound_port}"
        channel = grpc.aio.insecure_channel(target)
        try:
            yield GatewayServer(host, target, channel, gateway_pb2_grpc.AgentGatewayStub(channel))
        finally:
            await channel.close()


@dataclass
class Mesh:
    database_url: str
    data_dir: Path
    consensus: ConsensusServer
    memory: MemoryServer
    memory_target: str
    embedder: EmbedderDouble
    gateway: GatewayServer

    async def issue(self, namespace: str, **options: object) -> keys.IssuedKey:
        return await issue_key(self.database_url, namespace, **options)

    async def admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url)

    def another_gateway(
        self, name: str, env: Mapping[str, str] | None = None
    ) -> contextlib.AbstractAsyncContextManager[GatewayServer]:
        return gateway_server(
            self.database_url,
            self.data_dir / name,
            memory_target=self.memory_target,
            consensus_target=self.consensus.target,
            embedder_target=self.embedder.target,
            env=env,
        )


@contextlib.asynccontextmanager
async def running_mesh(
    database_url: str,
    data_dir: Path,
    gateway_env: Mapping[str, str] | None = None,
    consensus_env: Mapping[str, str] | None = None,
) -> AsyncIterator[Mesh]:
    await migrate_memory(database_url)
    embedder = EmbedderDouble()
    await embedder.start()
    try:
        async with (
            consensus_server(database_url, data_dir / "consensus", consensus_env) as consensus,
            running_memory_service(database_url, None, embedder.target, {"CEREBRO_REGISTER": "false"}) as memory,
        ):
            memory_target = f"127.0.0.1:{memory.host.bound_port}"
            async with gateway_server(
                database_url,
                data_dir / "gateway",
                memory_target=memory_target,
                consensus_target=consensus.target,
                embedder_target=embedder.target,
                env=gateway_env,
            ) as gateway:
                yield Mesh(database_url, data_dir, consensus, memory, memory_target, embedder, gateway)
    finally:
        await embedder.stop()


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    raise AssertionError(f"no rich status details in {error!r}")


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    for detail in rich_status(error).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            request = error_details_pb2.BadRequest()
            detail.Unpack(request)
            return [violation.field for violation in request.field_violations]
    raise AssertionError("no BadRequest detail")


def retry_delay_seconds(error: grpc.aio.AioRpcError) -> float:
    for detail in rich_status(error).details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.ToNanoseconds() / 1e9
    raise AssertionError("no RetryInfo detail")
