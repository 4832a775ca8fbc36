"""Reads on a streaming replica, read-your-writes through the read token, and a replica that lags or is cut.

The replica is a real hot standby of the test PostgreSQL (pg_basebackup, streaming replication); the
memory service reaches it through a proxy the tests can cut. Replay is paused on it (a superuser's
pg_wal_replay_pause) to make it lag as far as a test needs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf import field_mask_pb2
from prometheus_client import REGISTRY

from cerebro.embedded import EmbeddedPostgres
from cerebro.memory.v1 import episodes_pb2, identity_pb2, namespaces_pb2, semantic_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.read_tokens import REQUIRED_HEADER, WRITTEN_HEADER, ReadToken
from tests.conftest import replica_session, replica_url
from tests.memory.embedder_double import EmbedderDouble
from tests.memory.helpers import MemoryServer, running_memory_service
from tests.support import eventually
from tests.tcp_proxy import TcpProxy, proxied

WAIT_MS = 300


def reads(database: str, reason: str) -> float:
    return REGISTRY.get_sample_value("memory_reads_total", {"database": database, "reason": reason}) or 0.0


@pytest.fixture
async def replica_admin(
    memory_database_url: str, streaming_replica: EmbeddedPostgres
) -> AsyncIterator[asyncpg.Connection]:
    async with replica_session(memory_database_url, streaming_replica) as connection:
        yield connection


@pytest.fixture
async def replica_link(
    memory_database_url: str, streaming_replica: EmbeddedPostgres, replica_admin: asyncpg.Connection
) -> AsyncIterator[tuple[TcpProxy, str]]:
    async with proxied(replica_url(streaming_replica, memory_database_url)) as link:
        yield link


@pytest.fixture
async def split_memory(
    memory_database_url: str,
    memory_redis_url: str,
    embedder: EmbedderDouble,
    replica_link: tuple[TcpProxy, str],
) -> AsyncIterator[MemoryServer]:
    """The memory service writing to the primary and reading from the replica."""
    _, read_url = replica_link
    extra = {"CEREBRO_MEMORY_READ_DATABASE_URL": read_url, "CEREBRO_MEMORY_REPLICA_WAIT_MS": str(WAIT_MS)}
    async with running_memory_service(memory_database_url, memory_redis_url, embedder.target, extra) as server:
        yield server


async def write(memory: MemoryServer, content: str) -> tuple[str, str]:
    """The new episode's id and the read token the write answered with."""
    call = memory.stub.CreateEpisode(
        pb.CreateEpisodeRequest(namespace="nexus", episode=episodes_pb2.Episode(content=content))
    )
    response = await call
    tokens = [value for key, value in await call.trailing_metadata() or () if key == WRITTEN_HEADER]
    assert len(tokens) == 1
    return response.episode.episode_id, str(tokens[0])


async def read(memory: MemoryServer, episode_id: str, token: str | None) -> episodes_pb2.Episode:
    metadata = () if token is None else ((REQUIRED_HEADER, token),)
    response = await memory.stub.GetEpisode(
        pb.GetEpisodeRequest(namespace="nexus", episode_id=episode_id), metadata=metadata
    )
    return response.episode


async def test_every_read_after_a_write_sees_it_and_the_replica_serves_reads(split_memory: MemoryServer) -> None:
    served_by_replica = reads("replica", "caught_up")
    previous: ReadToken | None = None
    for index in range(100):
        episode_id, token = await write(split_memory, f"write then read {index}")
        parsed = ReadToken.parse(token)
        assert parsed is not None and parsed.xid is not None
        assert previous is None or parsed.lsn > previous.lsn
        previous = parsed
        assert (await read(split_memory, episode_id, token)).content == f"write then read {index}"
    listing = await split_memory.stub.ListEpisodes(
        pb.ListEpisodesRequest(namespace="nexus", page_size=100), metadata=((REQUIRED_HEADER, str(previous)),)
    )
    assert len(listing.episodes) == 100
    assert reads("replica", "caught_up") > served_by_replica


async def test_a_lagging_replica_hands_a_writers_reads_to_the_primary(
    split_memory: MemoryServer, replica_admin: asyncpg.Connection
) -> None:
    await replica_admin.execute("SELECT pg_wal_replay_pause()")
    await eventually(lambda: replica_admin.fetchval("SELECT pg_get_wal_replay_pause_state() = 'paused'"))
    episode_id, token = await write(split_memory, "written while the replica is paused")

    # Without the token the read is the replica's, and the replica has not seen the write yet: this is
    # what a read that does not carry the session's token may see.
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await read(split_memory, episode_id, None)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND

    # With it the read waits for the replica up to the bound, then goes to the primary: never stale.
    behind = reads("primary", "behind")
    assert (await read(split_memory, episode_id, token)).content == "written while the replica is paused"
    assert reads("primary", "behind") == behind + 1
    # A read-only transaction (the FULL view) is routed the same way.
    full = await split_memory.stub.GetEpisode(
        pb.GetEpisodeRequest(namespace="nexus", episode_id=episode_id, view=episodes_pb2.EPISODE_VIEW_FULL),
        metadata=((REQUIRED_HEADER, token),),
    )
    assert full.episode.episode_id == episode_id
    await eventually(lambda: (REGISTRY.get_sample_value("memory_replica_lag_bytes") or 0) > 0)

    await replica_admin.execute("SELECT pg_wal_replay_resume()")
    served_by_replica = reads("replica", "caught_up")
    assert (await read(split_memory, episode_id, token)).episode_id == episode_id
    assert reads("replica", "caught_up") == served_by_replica + 1
    await eventually(lambda: REGISTRY.get_sample_value("memory_replica_lag_bytes") == 0)


async def test_a_cut_replica_sends_every_read_to_the_primary(
    split_memory: MemoryServer, replica_link: tuple[TcpProxy, str]
) -> None:
    proxy, _ = replica_link
    await proxy.cut()
    episode_id, token = await write(split_memory, "written while the replica is cut off")
    for carried in (token, None):
        assert (await read(split_memory, episode_id, carried)).content == "written while the replica is cut off"
    await eventually(lambda: REGISTRY.get_sample_value("memory_replica_up") == 0)
    unreachable = reads("primary", "unreachable")
    assert (await read(split_memory, episode_id, None)).episode_id == episode_id
    assert reads("primary", "unreachable") == unreachable + 1

    await proxy.start()
    await eventually(lambda: REGISTRY.get_sample_value("memory_replica_up") == 1)
    served_by_replica = reads("replica", "caught_up")
    assert (await read(split_memory, episode_id, token)).episode_id == episode_id
    assert reads("replica", "caught_up") == served_by_replica + 1


async def test_a_malformed_token_is_refused(split_memory: MemoryServer) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await read(split_memory, str(uuid.uuid4()), "not a token")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert REQUIRED_HEADER in (error.value.details() or "") or error.value.trailing_metadata()


async def test_without_a_read_url_writes_still_answer_a_token(memory: MemoryServer) -> None:
    episode_id, token = await write(memory, "one database")
    assert ReadToken.parse(token) is not None
    assert (await read(memory, episode_id, token)).episode_id == episode_id


async def test_a_new_namespace_is_readable_at_once_with_its_token(
    split_memory: MemoryServer, replica_admin: asyncpg.Connection
) -> None:
    await replica_admin.execute("SELECT pg_wal_replay_pause()")
    call = split_memory.stub.CreateNamespace(
        pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name="fresh"))
    )
    await call
    [token] = [value for key, value in await call.trailing_metadata() or () if key == WRITTEN_HEADER]
    listed = await split_memory.stub.ListEpisodes(
        pb.ListEpisodesRequest(namespace="fresh"), metadata=((REQUIRED_HEADER, str(token)),)
    )
    assert list(listed.episodes) == []


async def test_the_other_writes_answer_tokens_their_readers_see_them_by(
    split_memory: MemoryServer, replica_admin: asyncpg.Connection
) -> None:
    """Projects, blocks, semantic memory, checkpoints and consciousness (migration 0011): each write's
    token makes the writer's next read see it, on a replica that has not replayed it."""
    stub = split_memory.stub

    async def token_of(call: Any) -> tuple[Any, tuple[tuple[str, str], ...]]:
        response = await call
        [token] = [value for key, value in await call.trailing_metadata() or () if key == WRITTEN_HEADER]
        assert ReadToken.parse(str(token)) is not None
        return response, ((REQUIRED_HEADER, str(token)),)

    await replica_admin.execute("SELECT pg_wal_replay_pause()")
    await eventually(lambda: replica_admin.fetchval("SELECT pg_get_wal_replay_pause_state() = 'paused'"))
    created, carried = await token_of(
        stub.CreateProject(
            pb.CreateProjectRequest(namespace="nexus", project=namespaces_pb2.Project(display_name="tokens"))
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.GetProject(pb.GetProjectRequest(namespace="nexus", project_id=created.project.project_id))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND  # the replica has not seen it
    read = await stub.GetProject(
        pb.GetProjectRequest(namespace="nexus", project_id=created.project.project_id), metadata=carried
    )
    assert read.project == created.project

    block = (
        await stub.GetMemoryBlock(pb.GetMemoryBlockRequest(namespace="nexus", label="technical_preferences"))
    ).block
    changed, carried = await token_of(
        stub.UpdateMemoryBlock(
            pb.UpdateMemoryBlockRequest(
                namespace="nexus",
                block=identity_pb2.MemoryBlock(block_id=block.block_id, value="changed through the primary"),
                update_mask=field_mask_pb2.FieldMask(paths=["value"]),
            )
        )
    )
    read_block = await stub.GetMemoryBlock(
        pb.GetMemoryBlockRequest(namespace="nexus", block_id=block.block_id), metadata=carried
    )
    assert read_block.block == changed.block and read_block.block.version == block.version + 1

    concept, carried = await token_of(
        stub.CreateSemanticMemory(
            pb.CreateSemanticMemoryRequest(
                namespace="nexus", semantic_memory=semantic_pb2.SemanticMemory(concept="read your writes")
            )
        )
    )
    read_concept = await stub.GetSemanticMemory(
        pb.GetSemanticMemoryRequest(namespace="nexus", semantic_memory_id=concept.semantic_memory.semantic_memory_id),
        metadata=carried,
    )
    assert read_concept.semantic_memory.concept == "read your writes"

    checkpoint = identity_pb2.Checkpoint(checkpoint_type="tokens")
    checkpoint.state_data.update({"at": "primary"})
    saved, carried = await token_of(
        stub.CreateCheckpoint(pb.CreateCheckpointRequest(namespace="nexus", checkpoint=checkpoint))
    )
    restored = await stub.RestoreCheckpoint(pb.RestoreCheckpointRequest(namespace="nexus"), metadata=carried)
    assert restored.checkpoint == saved.checkpoint and restored.identity_matches

    _, carried = await token_of(
        stub.UpdateConsciousnessState(
            pb.UpdateConsciousnessStateRequest(
                namespace="nexus",
                state=identity_pb2.ConsciousnessState(current_focus="tokens"),
                update_mask=field_mask_pb2.FieldMask(paths=["current_focus"]),
            )
        )
    )
    state = await stub.GetConsciousnessState(pb.GetConsciousnessStateRequest(namespace="nexus"), metadata=carried)
    assert state.state.current_focus == "tokens" and state.state.version == 1
    await replica_admin.execute("SELECT pg_wal_replay_resume()")
