"""Hybrid search over real PostgreSQL full-text and pgvector, with the query embedded over gRPC.

Vectors come from `tests.memory.embedder_double.EmbedderDouble` (bag-of-words), so texts sharing
words are near each other and the expected rankings are known.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from cerebro.memory.v1 import episodes_pb2, namespaces_pb2, semantic_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from tests.memory.embedder_double import EmbedderDouble
from tests.memory.helpers import MemoryServer, running_embeddings_worker, violated_fields
from tests.support import eventually

CORPUS = [
    "the cat sat on the mat",
    "dogs chase cats in the park",
    "quantum computing with qubits and entanglement",
    "a recipe for chocolate cake with cocoa",
]


async def embedded_corpus(
    memory: MemoryServer, database_url: str, embedder: EmbedderDouble, namespace: str = "nexus"
) -> list[episodes_pb2.Episode]:
    requests = [
        pb.CreateEpisodeRequest(episode=episodes_pb2.Episode(content=content, tags=["corpus"])) for content in CORPUS
    ]
    response = await memory.stub.BatchCreateEpisodes(
        pb.BatchCreateEpisodesRequest(namespace=namespace, requests=requests)
    )
    async with running_embeddings_worker(database_url, embedder.target):

        async def done() -> bool:
            stats = await memory.stub.GetStats(pb.GetStatsRequest(namespace=namespace))
            return stats.embedding_coverage_percent == 100.0

        await eventually(done)
    return list(response.episodes)


async def search(memory: MemoryServer, query: str, mode: int, **fields: object) -> pb.SearchEpisodesResponse:
    return await memory.stub.SearchEpisodes(
        pb.SearchEpisodesRequest(namespace="nexus", query=query, mode=mode, **fields)
    )  # type: ignore[arg-type]


async def test_three_modes_rank_the_matching_episode_first(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble
) -> None:
    await embedded_corpus(memory, memory_database_url, embedder)

    text = await search(memory, "qubits", episodes_pb2.SEARCH_MODE_TEXT)
    assert [hit.episode.content for hit in text.hits] == [CORPUS[2]]
    assert text.hits[0].text_rank == 1 and text.hits[0].vector_rank == 0 and text.hits[0].text_score > 0

    vector = await search(memory, "quantum qubits", episodes_pb2.SEARCH_MODE_VECTOR, top_k=2)
    assert vector.hits[0].episode.content == CORPUS[2]
    assert len(vector.hits) == 2
    assert vector.hits[0].vector_rank == 1 and vector.hits[0].text_rank == 0
    assert vector.hits[0].vector_score > vector.hits[1].vector_score

    hybrid = await search(memory, "cat mat", episodes_pb2.SEARCH_MODE_HYBRID)
    best = hybrid.hits[0]
    assert best.episode.content == CORPUS[0]
    assert best.text_rank == 1 and best.vector_rank == 1
    assert best.fused_score == pytest.approx(2 / 61)
    assert [hit.fused_score for hit in hybrid.hits] == sorted((hit.fused_score for hit in hybrid.hits), reverse=True)
    assert not hybrid.vector_search_skipped


async def test_unembedded_episodes_are_found_by_text(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble
) -> None:
    await embedded_corpus(memory, memory_database_url, embedder)
    await memory.stub.CreateEpisode(
        pb.CreateEpisodeRequest(namespace="nexus", episode=episodes_pb2.Episode(content="a zebra crossed the road"))
    )
    hybrid = await search(memory, "zebra", episodes_pb2.SEARCH_MODE_HYBRID)
    # The vector ranking always holds the nearest embedded rows, so the unembedded episode ties at
    # the top with the nearest of them (1 / 61 each); what matters is that text alone finds it.
    [zebra] = [hit for hit in hybrid.hits if hit.episode.content == "a zebra crossed the road"]
    assert zebra.episode.embedding_state == episodes_pb2.EMBEDDING_STATE_PENDING
    assert zebra.text_rank == 1 and zebra.vector_rank == 0
    assert zebra.fused_score == pytest.approx(1 / 61) == hybrid.hits[0].fused_score


async def test_filters_and_namespaces_apply_to_search(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble
) -> None:
    await memory.stub.CreateNamespace(pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name="aria")))
    await embedded_corpus(memory, memory_database_url, embedder, namespace="aria")
    await memory.stub.CreateEpisode(
        pb.CreateEpisodeRequest(namespace="nexus", episode=episodes_pb2.Episode(content="my cat", tags=["pets"]))
    )
    await memory.stub.CreateEpisode(
        pb.CreateEpisodeRequest(namespace="nexus", episode=episodes_pb2.Episode(content="another cat", tags=["other"]))
    )
    hybrid = await search(
        memory, "cat", episodes_pb2.SEARCH_MODE_HYBRID, filter=episodes_pb2.EpisodeFilter(tags=["pets"])
    )
    assert [hit.episode.content for hit in hybrid.hits] == ["my cat"]
    everything = await search(memory, "cat", episodes_pb2.SEARCH_MODE_HYBRID, top_k=100)
    assert {hit.episode.namespace for hit in everything.hits} == {"nexus"}


async def test_text_search_applies_every_filter_as_listing_does(memory: MemoryServer) -> None:
    # The text ranking runs in a database function with its own copy of the filters: it must agree with
    # the listing's SQL on every filter.
    project = await memory.stub.CreateProject(
        pb.CreateProjectRequest(namespace="nexus", project=namespaces_pb2.Project(display_name="mesh"))
    )
    project_id = project.project.project_id
    now = datetime.now(UTC)
    for index in range(12):
        occurred = timestamp_pb2.Timestamp()
        occurred.FromDatetime(now - timedelta(hours=index))
        episode = episodes_pb2.Episode(
            content=f"orbit report number {index}",
            tags=["even"] if index % 2 == 0 else ["odd", "late"] if index > 6 else ["odd"],
            importance=index / 12,
            occur_time=occurred,
            project_id=project_id if index % 3 == 0 else "",
        )
        await memory.stub.CreateEpisode(pb.CreateEpisodeRequest(namespace="nexus", episode=episode))
    start, end = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    start.FromDatetime(now - timedelta(hours=8, minutes=30))
    end.FromDatetime(now - timedelta(hours=2, minutes=30))
    filters = [
        episodes_pb2.EpisodeFilter(project_id=project_id),
        episodes_pb2.EpisodeFilter(tags=["odd", "late"]),
        episodes_pb2.EpisodeFilter(start_time=start, end_time=end),
        episodes_pb2.EpisodeFilter(min_importance=0.5),
        episodes_pb2.EpisodeFilter(tags=["even"], min_importance=0.3, start_time=start),
    ]
    for selected in filters:
        listed = await memory.stub.ListEpisodes(
            pb.ListEpisodesRequest(namespace="nexus", filter=selected, page_size=100)
        )
        found = await search(memory, "orbit report", episodes_pb2.SEARCH_MODE_TEXT, filter=selected, top_k=100)
        expected = {episode.content for episode in listed.episodes}
        assert expected and {hit.episode.content for hit in found.hits} == expected, selected


async def test_the_text_ranking_function_keeps_to_the_declared_namespace(
    memory: MemoryServer, memory_database_url: str
) -> None:
    await memory.stub.CreateNamespace(pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name="aria")))
    for namespace in ("nexus", "aria"):
        await memory.stub.CreateEpisode(
            pb.CreateEpisodeRequest(
                namespace=namespace, episode=episodes_pb2.Episode(content=f"{namespace} secret plan")
            )
        )
    connection = await asyncpg.connect(memory_database_url)
    ranked = (
        "SELECT e.content FROM memory.rank_episodes_by_text('secret plan', '{}', '{}', 10,"
        " NULL, NULL, NULL, NULL, NULL) AS hits JOIN memory.episodes e ON e.episode_id = hits.id"
    )
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL ROLE cerebro_memory")
            # Without a declared namespace the function ranks nothing, as row-level security shows nothing.
            assert await connection.fetch(ranked) == []
            await connection.execute("SELECT set_config('cerebro.namespace', 'aria', true)")
            assert [row["content"] for row in await connection.fetch(ranked)] == ["aria secret plan"]
        async with connection.transaction():
            await connection.execute("SET LOCAL ROLE cerebro_memory_worker")  # the workers never search
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.fetch(ranked)
    finally:
        await connection.close()


async def test_importance_and_recency_weighting(memory: MemoryServer) -> None:
    now = datetime.now(UTC)

    def at(moment: datetime) -> timestamp_pb2.Timestamp:
        message = timestamp_pb2.Timestamp()
        message.FromDatetime(moment)
        return message

    requests = [
        pb.CreateEpisodeRequest(
            episode=episodes_pb2.Episode(content="ocean ocean ocean waves", importance=0.1, occur_time=at(now))
        ),
        pb.CreateEpisodeRequest(
            episode=episodes_pb2.Episode(content="ocean", importance=0.9, occur_time=at(now - timedelta(days=60)))
        ),
    ]
    await memory.stub.BatchCreateEpisodes(pb.BatchCreateEpisodesRequest(namespace="nexus", requests=requests))
    plain = await search(memory, "ocean", episodes_pb2.SEARCH_MODE_TEXT)
    assert [hit.episode.content for hit in plain.hits] == ["ocean ocean ocean waves", "ocean"]
    by_importance = await search(
        memory, "ocean", episodes_pb2.SEARCH_MODE_TEXT, weighting=episodes_pb2.SearchWeighting(importance_weight=1.0)
    )
    assert [hit.episode.content for hit in by_importance.hits] == ["ocean", "ocean ocean ocean waves"]
    by_recency = await search(
        memory,
        "ocean",
        episodes_pb2.SEARCH_MODE_TEXT,
        weighting=episodes_pb2.SearchWeighting(
            importance_weight=1.0, recency_weight=1.0, recency_half_life=duration_pb2.Duration(seconds=86400)
        ),
    )
    assert [hit.episode.content for hit in by_recency.hits] == ["ocean ocean ocean waves", "ocean"]


async def test_embedder_down_hybrid_falls_back_to_text_and_vector_mode_is_unavailable(
    memory: MemoryServer, embedder: EmbedderDouble
) -> None:
    await memory.stub.CreateEpisode(
        pb.CreateEpisodeRequest(namespace="nexus", episode=episodes_pb2.Episode(content="lonely text"))
    )
    await embedder.stop()
    hybrid = await search(memory, "lonely", episodes_pb2.SEARCH_MODE_HYBRID)
    assert hybrid.vector_search_skipped
    assert [hit.episode.content for hit in hybrid.hits] == ["lonely text"]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await search(memory, "lonely", episodes_pb2.SEARCH_MODE_VECTOR)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_bad_search_input(memory: MemoryServer) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.SearchEpisodes(
            pb.SearchEpisodesRequest(
                namespace="nexus", query=" ", top_k=500, weighting=episodes_pb2.SearchWeighting(recency_weight=2)
            )
        )
    assert violated_fields(error.value) == ["query", "top_k", "weighting.recency_weight"]


async def test_semantic_memories_are_searchable_the_same_way(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble
) -> None:
    concepts = {
        "reciprocal rank fusion": "combines rankings by summing one over k plus rank",
        "write-through cache": "writes go to the database first and then to the cache",
    }
    for concept, definition in concepts.items():
        await memory.stub.CreateSemanticMemory(
            pb.CreateSemanticMemoryRequest(
                namespace="nexus",
                semantic_memory=semantic_pb2.SemanticMemory(concept=concept, definition=definition, confidence=0.9),
            )
        )
    async with running_embeddings_worker(memory_database_url, embedder.target):

        async def embedded() -> bool:
            listed = await memory.stub.ListSemanticMemories(pb.ListSemanticMemoriesRequest(namespace="nexus"))
            return all(
                item.embedding_state == episodes_pb2.EMBEDDING_STATE_EMBEDDED for item in listed.semantic_memories
            )

        await eventually(embedded)
    for mode in (episodes_pb2.SEARCH_MODE_TEXT, episodes_pb2.SEARCH_MODE_VECTOR, episodes_pb2.SEARCH_MODE_HYBRID):
        response = await memory.stub.SearchSemanticMemories(
            pb.SearchSemanticMemoriesRequest(namespace="nexus", query="cache database", mode=mode)
        )
        assert response.hits[0].semantic_memory.concept == "write-through cache", mode
    confident = await memory.stub.SearchSemanticMemories(
        pb.SearchSemanticMemoriesRequest(namespace="nexus", query="cache database", min_confidence=0.95)
    )
    assert list(confident.hits) == []


async def test_context_window_brings_each_hit_its_neighbours_in_occurrence_order(memory: MemoryServer) -> None:
    project = await memory.stub.CreateProject(
        pb.CreateProjectRequest(namespace="nexus", project=namespaces_pb2.Project(display_name="mesh"))
    )
    project_id = project.project.project_id
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def at(minutes: int) -> timestamp_pb2.Timestamp:
        message = timestamp_pb2.Timestamp()
        message.FromDatetime(start + timedelta(minutes=minutes))
        return message

    # A conversation in the project (turns 0-4), and notes without a project in between.
    turns = ["turn zero", "turn one", "turn two mentions zeppelin", "turn three", "turn four"]
    notes = ["note zero", "note one mentions zeppelin", "note two"]
    requests = [
        pb.CreateEpisodeRequest(
            episode=episodes_pb2.Episode(content=text, occur_time=at(2 * index), project_id=project_id)
        )
        for index, text in enumerate(turns)
    ] + [
        pb.CreateEpisodeRequest(episode=episodes_pb2.Episode(content=text, occur_time=at(2 * index + 1)))
        for index, text in enumerate(notes)
    ]
    await memory.stub.BatchCreateEpisodes(pb.BatchCreateEpisodesRequest(namespace="nexus", requests=requests))

    def context_of(response: pb.SearchEpisodesResponse) -> dict[str, list[str]]:
        return {hit.episode.content: [episode.content for episode in hit.context] for hit in response.hits}

    one = await search(memory, "zeppelin", episodes_pb2.SEARCH_MODE_TEXT, context_window=1)
    assert context_of(one) == {
        "turn two mentions zeppelin": ["turn one", "turn three"],
        "note one mentions zeppelin": ["note zero", "note two"],
    }
    two = await search(memory, "zeppelin", episodes_pb2.SEARCH_MODE_TEXT, context_window=2)
    assert context_of(two)["turn two mentions zeppelin"] == ["turn zero", "turn one", "turn three", "turn four"]
    edge = await search(memory, '"turn four"', episodes_pb2.SEARCH_MODE_TEXT, context_window=3)
    assert context_of(edge) == {"turn four": ["turn one", "turn two mentions zeppelin", "turn three"]}
    none = await search(memory, "zeppelin", episodes_pb2.SEARCH_MODE_TEXT)
    assert all(not hit.context for hit in none.hits)
    for window in (-1, 11):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await search(memory, "zeppelin", episodes_pb2.SEARCH_MODE_TEXT, context_window=window)
        assert violated_fields(error.value) == ["context_window"]
