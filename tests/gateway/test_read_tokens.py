"""Read-your-writes through the gateway: an agent's read carries its write's token down to a memory
service that reads from a (lagging) streaming replica."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from cerebro.client import AsyncCerebroClient, ClientSettings
from cerebro.embedded import EmbeddedPostgres
from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.read_tokens import REQUIRED_HEADER, WRITTEN_HEADER, ReadToken
from tests.conftest import replica_url
from tests.gateway.harness import GatewayServer, Mesh, bearer, gateway_server
from tests.memory.helpers import running_memory_service
from tests.support import eventually


@pytest.fixture
async def paused_replica(mesh: Mesh, streaming_replica: EmbeddedPostgres) -> AsyncIterator[asyncpg.Connection]:
    """A superuser session on the replica's copy of the mesh database, replay paused once it caught up."""
    admin = await mesh.admin()
    server = await asyncpg.connect(streaming_replica.url)
    try:
        position = await admin.fetchval("SELECT pg_current_wal_lsn()")
        await eventually(lambda: server.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", position), timeout=30)
    finally:
        await server.close()
        await admin.close()
    connection = await asyncpg.connect(replica_url(streaming_replica, mesh.database_url))
    try:
        await connection.execute("SELECT pg_wal_replay_pause()")
        yield connection
    finally:
        await connection.execute("SELECT pg_wal_replay_resume()")
        await connection.close()


@pytest.fixture
async def split_gateway(
    mesh: Mesh, streaming_replica: EmbeddedPostgres, paused_replica: asyncpg.Connection
) -> AsyncIterator[GatewayServer]:
    """A gateway in front of a memory service whose reads go to the paused replica."""
    extra = {
        "CEREBRO_REGISTER": "false",
        "CEREBRO_MEMORY_READ_DATABASE_URL": replica_url(streaming_replica, mesh.database_url),
        "CEREBRO_MEMORY_REPLICA_WAIT_MS": "200",
    }
    async with (
        running_memory_service(mesh.database_url, None, mesh.embedder.target, extra) as memory,
        gateway_server(
            mesh.database_url,
            mesh.data_dir / "split-gateway",
            memory_target=f"127.0.0.1:{memory.host.bound_port}",
            consensus_target=mesh.consensus.target,
            embedder_target=mesh.embedder.target,
        ) as gateway,
    ):
        yield gateway


async def test_an_agent_reads_its_own_write_through_the_gateway(
    mesh: Mesh, namespace: str, split_gateway: GatewayServer
) -> None:
    agent = bearer((await mesh.issue(namespace, instance_name=namespace.upper())).token)
    call = split_gateway.stub.Remember(pb.RememberRequest(content="seen by my next read"), metadata=agent)
    remembered = await call
    tokens = [value for key, value in await call.trailing_metadata() or () if key == WRITTEN_HEADER]
    assert len(tokens) == 1 and ReadToken.parse(str(tokens[0])) is not None

    listed = await split_gateway.stub.ListRecentEpisodes(
        pb.ListRecentEpisodesRequest(), metadata=(*agent, (REQUIRED_HEADER, str(tokens[0])))
    )
    assert [episode.episode_id for episode in listed.episodes] == [remembered.episode.episode_id]

    # Without the token the read is the paused replica's, which has not seen the agent at all.
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await split_gateway.stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(), metadata=agent)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_python_client_carries_its_session_token(
    mesh: Mesh, namespace: str, split_gateway: GatewayServer
) -> None:
    issued = await mesh.issue(namespace, instance_name=namespace.upper())
    settings = ClientSettings(target=split_gateway.target, api_key=issued.token)
    async with AsyncCerebroClient(settings) as client:
        assert client.read_token is None
        first = await client.remember("the first of two writes")
        after_first = client.read_token
        assert after_first is not None
        second = await client.remember("the second of two writes")
        assert client.read_token is not None and client.read_token.lsn > after_first.lsn
        # The replica is paused: only the token the client sends makes the list see both writes.
        listed = await client.recent_episodes()
        assert {episode.episode_id for episode in listed.episodes} == {
            first.episode.episode_id,
            second.episode.episode_id,
        }


async def test_a_malformed_token_is_refused_at_the_gateway(mesh: Mesh, namespace: str) -> None:
    agent = bearer((await mesh.issue(namespace, instance_name=namespace.upper())).token)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await mesh.gateway.stub.Remember(
            pb.RememberRequest(content="must not be stored"), metadata=(*agent, (REQUIRED_HEADER, "latest"))
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert REQUIRED_HEADER in (error.value.details() or "")
    listed = await mesh.gateway.stub.ListRecentEpisodes(pb.ListRecentEpisodesRequest(), metadata=agent)
    assert list(listed.episodes) == []
