"""Episodes over gRPC against real PostgreSQL: CRUD, batches, idempotency, filters, paging, bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2, timestamp_pb2

from cerebro.memory.v1 import episodes_pb2, namespaces_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from tests.memory.helpers import MemoryServer, field_violations, violated_fields


def ts(value: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def episode(content: str, **fields: object) -> episodes_pb2.Episode:
    return episodes_pb2.Episode(content=content, **fields)  # type: ignore[arg-type]


async def test_create_get_update_delete(memory: MemoryServer, admin: asyncpg.Connection) -> None:
    metadata = struct_pb2.Struct()
    metadata.update({"source": "chat", "turn": 3})
    created = (
        await memory.stub.CreateEpisode(
            pb.CreateEpisodeRequest(
                namespace="nexus",
                episode=episode("Ricardo approved the schema", importance=0.8, tags=["design"], metadata=metadata),
            )
        )
    ).episode
    assert uuid.UUID(created.episode_id)
    assert created.namespace == "nexus"
    assert created.importance == pytest.approx(0.8)
    assert list(created.tags) == ["design"]
    assert dict(created.metadata) == {"source": "chat", "turn": 3}
    assert created.embedding_state == episodes_pb2.EMBEDDING_STATE_PENDING

    fetched = (
        await memory.stub.GetEpisode(pb.GetEpisodeRequest(namespace="nexus", episode_id=created.episode_id))
    ).episode
    assert fetched == created

    updated = (
        await memory.stub.UpdateEpisode(
            pb.UpdateEpisodeRequest(
                namespace="nexus",
                episode=episodes_pb2.Episode(episode_id=created.episode_id, importance=0.3, content="ignored"),
                update_mask=field_mask_pb2.FieldMask(paths=["importance"]),
            )
        )
    ).episode
    assert updated.importance == pytest.approx(0.3)
    assert updated.content == "Ricardo approved the schema"
    assert updated.update_time.ToDatetime() >= created.update_time.ToDatetime()

    await memory.stub.DeleteEpisode(pb.DeleteEpisodeRequest(namespace="nexus", episode_id=created.episode_id))
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.GetEpisode(pb.GetEpisodeRequest(namespace="nexus", episode_id=created.episode_id))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue") == 0


async def test_long_content_is_stored_whole_and_checksummed_whole(
    memory: MemoryServer, admin: asyncpg.Connection
) -> None:
    # Two texts that share their first 4,000 characters are different jobs (document 000 hashed LEFT(content, 4000)).
    prefix = "x" * 5000
    first = (
        await memory.stub.CreateEpisode(
            pb.CreateEpisodeRequest(namespace="nexus", episode=episode(prefix + " end one"))
        )
    ).episode
    second = (
        await memory.stub.CreateEpisode(
            pb.CreateEpisodeRequest(namespace="nexus", episode=episode(prefix + " end two"))
        )
    ).episode
    assert first.content == prefix + " end one"
    checksums = await admin.fetch(
        "SELECT episode_id, content_checksum FROM memory.embeddings_queue WHERE episode_id = ANY($1::uuid[])",
        [uuid.UUID(first.episode_id), uuid.UUID(second.episode_id)],
    )
    assert len({row["content_checksum"] for row in checksums}) == 2


async def test_request_id_makes_create_idempotent(memory: MemoryServer, admin: asyncpg.Connection) -> None:
    request_id = str(uuid.uuid4())
    request = pb.CreateEpisodeRequest(namespace="nexus", episode=episode("only once"), request_id=request_id)
    first = (await memory.stub.CreateEpisode(request)).episode
    again = (await memory.stub.CreateEpisode(request)).episode
    assert again == first
    assert await admin.fetchval("SELECT count(*) FROM memory.episodes WHERE content = 'only once'") == 1
    assert await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue") == 1

    different = pb.CreateEpisodeRequest(namespace="nexus", episode=episode("something else"), request_id=request_id)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateEpisode(different)
    assert error.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert await admin.fetchval("SELECT count(*) FROM memory.episodes") == 1


async def test_batch_create_is_one_transaction_in_request_order(
    memory: MemoryServer, admin: asyncpg.Connection
) -> None:
    requests = [pb.CreateEpisodeRequest(episode=episode(f"batch episode {index}")) for index in range(2000)]
    response = await memory.stub.BatchCreateEpisodes(
        pb.BatchCreateEpisodesRequest(namespace="nexus", requests=requests)
    )
    assert [item.content for item in response.episodes] == [f"batch episode {index}" for index in range(2000)]
    assert await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue WHERE state = 'pending'") == 2000

    bad = [
        pb.CreateEpisodeRequest(episode=episode("fine")),
        pb.CreateEpisodeRequest(episode=episode("   ")),
        pb.CreateEpisodeRequest(episode=episode("fine", importance=1.5)),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.BatchCreateEpisodes(pb.BatchCreateEpisodesRequest(namespace="nexus", requests=bad))
    assert violated_fields(error.value) == ["requests[1].episode.content", "requests[2].episode.importance"]
    assert await admin.fetchval("SELECT count(*) FROM memory.episodes") == 2000


async def test_batch_retry_with_request_ids_writes_nothing_twice(
    memory: MemoryServer, admin: asyncpg.Connection
) -> None:
    requests = [
        pb.CreateEpisodeRequest(episode=episode(f"retried {index}"), request_id=str(uuid.uuid4())) for index in range(5)
    ]
    first = await memory.stub.BatchCreateEpisodes(pb.BatchCreateEpisodesRequest(namespace="nexus", requests=requests))
    # A retry that also carries a new episode stores only the new one.
    requests.append(pb.CreateEpisodeRequest(episode=episode("new one"), request_id=str(uuid.uuid4())))
    second = await memory.stub.BatchCreateEpisodes(pb.BatchCreateEpisodesRequest(namespace="nexus", requests=requests))
    assert list(second.episodes)[:5] == list(first.episodes)
    assert await admin.fetchval("SELECT count(*) FROM memory.episodes") == 6

    duplicate = [requests[0], requests[0]]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.BatchCreateEpisodes(pb.BatchCreateEpisodesRequest(namespace="nexus", requests=duplicate))
    assert violated_fields(error.value) == ["requests[1].request_id"]


@pytest.mark.parametrize(
    ("request_message", "fields"),
    [
        (pb.CreateEpisodeRequest(namespace="nexus", episode=episode("")), ["episode.content"]),
        (pb.CreateEpisodeRequest(namespace="nexus", episode=episode("x" * 262_145)), ["episode.content"]),
        (pb.CreateEpisodeRequest(namespace="nexus", episode=episode("ok", importance=-0.1)), ["episode.importance"]),
        (
            pb.CreateEpisodeRequest(namespace="nexus", episode=episode("ok", project_id="not-a-uuid")),
            ["episode.project_id"],
        ),
        (pb.CreateEpisodeRequest(namespace="nexus", episode=episode("ok", tags=["a", "a"])), ["episode.tags[1]"]),
        (pb.CreateEpisodeRequest(namespace="nexus", episode=episode("ok"), request_id="nope"), ["request_id"]),
        (pb.CreateEpisodeRequest(namespace="Not Valid", episode=episode("ok")), ["namespace"]),
        (pb.CreateEpisodeRequest(namespace="nexus"), ["episode"]),
        (
            pb.CreateEpisodeRequest(namespace="nexus", episode=episode("ok", project_id=str(uuid.uuid4()))),
            ["episode.project_id"],
        ),
    ],
)
async def test_bad_input_is_rejected_with_field_violations_and_writes_nothing(
    memory: MemoryServer, admin: asyncpg.Connection, request_message: pb.CreateEpisodeRequest, fields: list[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateEpisode(request_message)
    assert violated_fields(error.value) == fields
    assert await admin.fetchval("SELECT count(*) FROM memory.episodes") == 0


async def test_violations_speak_the_vocabulary_every_service_shares(memory: MemoryServer) -> None:
    request = pb.CreateEpisodeRequest(
        namespace="nexus",
        episode=episode("   ", importance=1.5, tags=["plan", "x" * 129, "plan"], project_id="{not-a-uuid}"),
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateEpisode(request)
    assert field_violations(error.value) == [
        ("episode.content", "must contain non-whitespace text"),
        ("episode.importance", "must be between 0 and 1; got 1.5"),
        ("episode.tags[1]", "is 129 characters; the limit is 128"),
        ("episode.tags[2]", "repeats episode.tags[0]"),
        ("episode.project_id", "must be a UUID; got '{not-a-uuid}'"),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.BatchCreateEpisodes(pb.BatchCreateEpisodesRequest(namespace="nexus"))
    assert field_violations(error.value) == [("requests", "has 0 items; at least 1 are required")]


async def test_malformed_ids_and_unknown_namespace(memory: MemoryServer) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.GetEpisode(pb.GetEpisodeRequest(namespace="nexus", episode_id="123"))
    assert violated_fields(error.value) == ["episode_id"]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateEpisode(pb.CreateEpisodeRequest(namespace="nobody", episode=episode("hello")))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_namespaces_are_isolated(memory: MemoryServer) -> None:
    await memory.stub.CreateNamespace(
        pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name="aria", display_name="ARIA"))
    )
    secret = (
        await memory.stub.CreateEpisode(pb.CreateEpisodeRequest(namespace="nexus", episode=episode("nexus private")))
    ).episode
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.GetEpisode(pb.GetEpisodeRequest(namespace="aria", episode_id=secret.episode_id))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await memory.stub.ListEpisodes(pb.ListEpisodesRequest(namespace="aria"))
    assert list(listed.episodes) == []
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.DeleteEpisode(pb.DeleteEpisodeRequest(namespace="aria", episode_id=secret.episode_id))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    namespaces = await memory.stub.ListNamespaces(pb.ListNamespacesRequest())
    assert [item.name for item in namespaces.namespaces] == ["aria", "nexus"]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateNamespace(pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name="aria")))
    assert error.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_list_filters_and_pages_newest_first(memory: MemoryServer) -> None:
    project = (
        await memory.stub.CreateProject(
            pb.CreateProjectRequest(namespace="nexus", project=namespaces_pb2.Project(display_name="Cerebro"))
        )
    ).project
    start = datetime(2025, 7, 27, tzinfo=UTC)
    requests = [
        pb.CreateEpisodeRequest(
            episode=episode(
                f"day {day}",
                occur_time=ts(start + timedelta(days=day)),
                importance=day / 10,
                tags=["even"] if day % 2 == 0 else ["odd"],
                project_id=project.project_id if day < 5 else "",
            )
        )
        for day in range(10)
    ]
    await memory.stub.BatchCreateEpisodes(pb.BatchCreateEpisodesRequest(namespace="nexus", requests=requests))

    contents: list[str] = []
    token = ""
    while True:
        page = await memory.stub.ListEpisodes(pb.ListEpisodesRequest(namespace="nexus", page_size=3, page_token=token))
        contents += [item.content for item in page.episodes]
        token = page.next_page_token
        if not token:
            break
    assert contents == [f"day {day}" for day in reversed(range(10))]

    filtered = await memory.stub.ListEpisodes(
        pb.ListEpisodesRequest(
            namespace="nexus",
            filter=episodes_pb2.EpisodeFilter(
                project_id=project.project_id,
                tags=["even"],
                start_time=ts(start + timedelta(days=1)),
                end_time=ts(start + timedelta(days=5)),
                min_importance=0.3,
            ),
        )
    )
    assert [item.content for item in filtered.episodes] == ["day 4"]

    first_page = await memory.stub.ListEpisodes(pb.ListEpisodesRequest(namespace="nexus", page_size=2))
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.ListEpisodes(
            pb.ListEpisodesRequest(
                namespace="nexus",
                page_token=first_page.next_page_token,
                filter=episodes_pb2.EpisodeFilter(tags=["odd"]),
            )
        )
    assert violated_fields(error.value) == ["page_token"]


async def test_update_mask_is_validated(memory: MemoryServer) -> None:
    created = (
        await memory.stub.CreateEpisode(pb.CreateEpisodeRequest(namespace="nexus", episode=episode("keep me")))
    ).episode
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.UpdateEpisode(
            pb.UpdateEpisodeRequest(
                namespace="nexus",
                episode=episodes_pb2.Episode(episode_id=created.episode_id),
                update_mask=field_mask_pb2.FieldMask(paths=["embedding_version"]),
            )
        )
    assert violated_fields(error.value) == ["update_mask"]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.UpdateEpisode(
            pb.UpdateEpisodeRequest(
                namespace="nexus",
                episode=episodes_pb2.Episode(episode_id=created.episode_id, content=""),
                update_mask=field_mask_pb2.FieldMask(paths=["content"]),
            )
        )
    assert violated_fields(error.value) == ["episode.content"]


async def test_purge_counts_without_force_and_deletes_only_the_namespaces_matches(
    memory: MemoryServer, admin: asyncpg.Connection
) -> None:
    await memory.stub.CreateNamespace(
        pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name="aria", display_name="ARIA"))
    )
    start = datetime.now(UTC) - timedelta(days=10)

    async def remember(namespace: str, content: str, days: int, tags: list[str]) -> str:
        request = pb.CreateEpisodeRequest(
            namespace=namespace, episode=episode(content, tags=tags, occur_time=ts(start + timedelta(days=days)))
        )
        return (await memory.stub.CreateEpisode(request)).episode.episode_id

    old_noise = [await remember("nexus", f"noise {day}", day, ["noise"]) for day in range(3)]
    new_noise = await remember("nexus", "noise 8", 8, ["noise"])
    old_signal = await remember("nexus", "signal", 1, ["signal"])
    aria_noise = await remember("aria", "aria's noise", 1, ["noise"])
    selected = episodes_pb2.EpisodeFilter(tags=["noise"], end_time=ts(start + timedelta(days=5)))

    dry = await memory.stub.PurgeEpisodes(pb.PurgeEpisodesRequest(namespace="nexus", filter=selected))
    assert (dry.purge_count, list(dry.purge_sample)) == (3, old_noise[::-1])
    assert await admin.fetchval("SELECT count(*) FROM memory.episodes") == 6

    purged = await memory.stub.PurgeEpisodes(pb.PurgeEpisodesRequest(namespace="nexus", filter=selected, force=True))
    assert purged.purge_count == 3 and set(purged.purge_sample) == set(old_noise)
    left = {str(row["episode_id"]) for row in await admin.fetch("SELECT episode_id FROM memory.episodes")}
    assert left == {new_noise, old_signal, aria_noise}
    assert await admin.fetchval("SELECT count(*) FROM memory.embeddings_queue") == 3

    with pytest.raises(grpc.aio.AioRpcError) as unfiltered:
        await memory.stub.PurgeEpisodes(pb.PurgeEpisodesRequest(namespace="nexus", force=True))
    assert violated_fields(unfiltered.value) == ["filter"]
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await memory.stub.PurgeEpisodes(pb.PurgeEpisodesRequest(namespace="nobody", filter=selected, force=True))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert await admin.fetchval("SELECT count(*) FROM memory.episodes") == 3
