"""What text search means (migration 0006, services.memory.store.text_query), on a small corpus written for it.

Real PostgreSQL, the real memory service over gRPC; vectors from the bag-of-words Embedder double.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from cerebro.memory.v1 import episodes_pb2, semantic_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from services.memory.store.text_query import parse_text_query
from tests.memory.embedder_double import EmbedderDouble
from tests.memory.helpers import MemoryServer, running_embeddings_worker, violated_fields
from tests.support import eventually

# Written for these tests: each group pins one property, the rest are background that shares words.
CORPUS = {
    # Any word of the question is enough; more and rarer shared words rank higher.
    "dana-fix": "Dana fixed the replica lag on Tuesday by raising the WAL sender timeout.",
    "replica-only": "The replica fell behind during the nightly backup.",
    "dana-only": "Dana reviewed the quarterly budget.",
    "lag-reordered": "The lag on the replica came back after the failover.",
    # Rare words outrank common ones: `deploy` is everywhere, `kubernetes` in one row.
    "kubernetes": "Moved the scheduler to Kubernetes last spring.",
    "deploy-1": "Deploy of the gateway went out at noon.",
    "deploy-2": "The deploy pipeline ran twice because of a flaky test.",
    "deploy-3": "Rolled back the deploy after error rates rose.",
    "deploy-4": "Deploy freeze for the holidays starts Friday.",
    "deploy-5": "Every deploy now posts a summary to the ops channel.",
    "deploy-6": "The deploy script checks the migration lock first.",
    "deploy-7": "A canary deploy caught the memory leak early.",
    "deploy-staging": "Deploying to staging needs the new credentials.",
    "deploy-dry-run": "The deploy dry run printed every planned change.",
    # Length normalisation: one mention in a short row beats one mention in a long one.
    "checkpoint-short": "Checkpoint written.",
    "checkpoint-long": (
        "After the long maintenance window the team went through the storage layout, the retention policy, "
        "the archive rotation, the alerting thresholds, the dashboard panels and finally the checkpoint, "
        "before handing the cluster back to the on-call engineer for the night shift."
    ),
    # Term frequency counts, with saturation: three mentions beat one in rows of the same length.
    "timeout-thrice": "Timeout, timeout, timeout cascade.",
    "timeout-once": "Timeout cascade budget window.",
    # Background.
    "vacuum": "Autovacuum could not keep up with the update rate on the events table.",
    "planner": "The planner chose a sequential scan until statistics were refreshed.",
    "cache": "Cache hit ratio dropped to eighty percent after the restart.",
    "quorum": "Consensus needs two thirds of the votes to reach a quorum.",
    "lease": "A lease that is not renewed in fifteen seconds lapses.",
    "index": "The new index on occurred_at made the listing fast again.",
    "redis": "Redis evicted keys under memory pressure.",
    "certificates": "Certificates for the gateway expire in thirty days.",
    "backup": "The backup manifest records a checksum per table.",
    "restore": "Restore refuses a database that is not empty.",
    "tokens": "API keys are stored as hashes, never in clear.",
    "grafana": "The dashboard shows queue depth and embedding coverage.",
}


@pytest.fixture
async def corpus(
    memory: MemoryServer, memory_database_url: str, embedder: EmbedderDouble
) -> AsyncIterator[dict[str, str]]:
    """Name -> episode id of the corpus, stored and embedded in namespace nexus."""
    response = await memory.stub.BatchCreateEpisodes(
        pb.BatchCreateEpisodesRequest(
            namespace="nexus",
            requests=[
                pb.CreateEpisodeRequest(episode=episodes_pb2.Episode(content=content)) for content in CORPUS.values()
            ],
        )
    )
    async with running_embeddings_worker(memory_database_url, embedder.target):

        async def embedded() -> bool:
            stats = await memory.stub.GetStats(pb.GetStatsRequest(namespace="nexus"))
            return stats.embedding_coverage_percent == 100.0

        await eventually(embedded)
    yield {name: episode.episode_id for name, episode in zip(CORPUS, response.episodes, strict=True)}


async def search(
    memory: MemoryServer, query: str, mode: int = episodes_pb2.SEARCH_MODE_TEXT, **fields: object
) -> list[episodes_pb2.EpisodeHit]:
    response = await memory.stub.SearchEpisodes(
        pb.SearchEpisodesRequest(namespace="nexus", query=query, mode=mode, **fields)  # type: ignore[arg-type]
    )
    return list(response.hits)


def names(corpus: dict[str, str], hits: list[episodes_pb2.EpisodeHit]) -> list[str]:
    by_id = {episode_id: name for name, episode_id in corpus.items()}
    return [by_id[hit.episode.episode_id] for hit in hits]


async def test_a_row_needs_only_one_of_the_words(memory: MemoryServer, corpus: dict[str, str]) -> None:
    found = names(corpus, await search(memory, "When did Dana fix the replica lag?"))
    assert found[0] == "dana-fix"  # all four words
    assert set(found) == {"dana-fix", "replica-only", "dana-only", "lag-reordered"}
    assert found.index("lag-reordered") < found.index("replica-only")  # two words beat one


async def test_rare_words_outrank_common_ones(memory: MemoryServer, corpus: dict[str, str]) -> None:
    found = names(corpus, await search(memory, "deploy kubernetes", top_k=20))
    assert found[0] == "kubernetes"
    assert len(found) == 10  # and the nine deploy rows, stems included (deploying)


async def test_short_rows_beat_long_ones_and_repetition_counts(memory: MemoryServer, corpus: dict[str, str]) -> None:
    assert names(corpus, await search(memory, "checkpoint")) == ["checkpoint-short", "checkpoint-long"]
    assert names(corpus, await search(memory, "timeout")) == ["timeout-thrice", "timeout-once", "dana-fix"]


async def test_phrases_are_required_in_order_and_exclusions_rule_rows_out(
    memory: MemoryServer, corpus: dict[str, str]
) -> None:
    assert names(corpus, await search(memory, '"replica lag" Dana')) == ["dana-fix"]
    assert set(names(corpus, await search(memory, "replica -failover"))) == {"dana-fix", "replica-only"}
    deploys = set(names(corpus, await search(memory, 'deploy -staging -"dry run"', top_k=20)))
    assert deploys == {f"deploy-{index}" for index in range(1, 8)}


async def test_the_scores_are_okapi_bm25(
    memory: MemoryServer, corpus: dict[str, str], admin: asyncpg.Connection
) -> None:
    """The service's scores against BM25 computed here from the rows' lexemes (k1 1.2, b 0.75; a row's
    length is its number of distinct lexemes)."""
    rows = await admin.fetch(
        "SELECT e.episode_id::text AS id, u.lexeme, cardinality(u.positions) AS tf"
        " FROM memory.episodes e CROSS JOIN LATERAL unnest(e.search_vector) AS u"
    )
    documents: dict[str, Counter[str]] = {episode_id: Counter() for episode_id in corpus.values()}
    for row in rows:
        documents[row["id"]][row["lexeme"]] = row["tf"]
    average_length = sum(len(terms) for terms in documents.values()) / len(documents)
    for query in ("When did Dana fix the replica lag?", "deploy the scheduler to kubernetes", "gateway gateway memory"):
        terms = await admin.fetch(
            "SELECT lexeme, cardinality(positions) AS n FROM unnest(to_tsvector('english', $1))", query
        )
        expected = {}
        for episode_id, counts in documents.items():
            length = len(counts)
            score = 0.0
            for term in terms:
                tf = counts[term["lexeme"]]
                df = sum(1 for other in documents.values() if term["lexeme"] in other)
                idf = math.log(1 + (len(documents) - df + 0.5) / (df + 0.5))
                score += term["n"] * idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / average_length))
            if score > 0:
                expected[episode_id] = score
        hits = await search(memory, query, top_k=100)
        assert {hit.episode.episode_id: hit.text_score for hit in hits} == pytest.approx(expected), query
        assert [hit.text_rank for hit in hits] == list(range(1, len(hits) + 1))


async def test_queries_of_stop_words_find_nothing_and_exclusions_alone_are_refused(
    memory: MemoryServer, corpus: dict[str, str]
) -> None:
    assert await search(memory, "what is the") == []
    for query in ("-deploy", '-"dry run" -staging'):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await search(memory, query)
        assert violated_fields(error.value) == ["query"]


async def test_phrases_and_exclusions_constrain_the_vector_ranking_too(
    memory: MemoryServer, corpus: dict[str, str]
) -> None:
    for mode in (episodes_pb2.SEARCH_MODE_VECTOR, episodes_pb2.SEARCH_MODE_HYBRID):
        found = names(corpus, await search(memory, "deploy -staging -canary", mode, top_k=100))
        assert "deploy-staging" not in found and "deploy-7" not in found and "deploy-1" in found, mode
        assert names(corpus, await search(memory, '"replica lag"', mode, top_k=100)) == ["dana-fix"], mode


async def test_min_score_is_a_cosine_threshold_of_the_vector_ranking(
    memory: MemoryServer, corpus: dict[str, str]
) -> None:
    everything = await search(memory, "deploy freeze holidays", episodes_pb2.SEARCH_MODE_VECTOR, top_k=100)
    assert len(everything) == len(CORPUS)
    similar = await search(memory, "deploy freeze holidays", episodes_pb2.SEARCH_MODE_VECTOR, top_k=100, min_score=0.3)
    assert similar and all(hit.vector_score >= 0.3 for hit in similar)
    assert [hit.episode.episode_id for hit in similar] == [
        hit.episode.episode_id for hit in everything if hit.vector_score >= 0.3
    ]
    # In hybrid mode a row sharing a word is still found by text, whatever its similarity.
    hybrid = await search(memory, "deploy freeze holidays", episodes_pb2.SEARCH_MODE_HYBRID, top_k=100, min_score=0.99)
    assert {hit.vector_rank for hit in hybrid} == {0}
    assert len(hybrid) == 9  # the nine deploy rows (the freeze is one of them)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await search(memory, "deploy", episodes_pb2.SEARCH_MODE_TEXT, min_score=0.5)
    assert violated_fields(error.value) == ["min_score"]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await search(memory, "deploy", episodes_pb2.SEARCH_MODE_VECTOR, min_score=1.5)
    assert violated_fields(error.value) == ["min_score"]


async def test_semantic_memories_rank_the_same_way(memory: MemoryServer) -> None:
    for concept, definition in (
        ("replica lag", "how far a replica is behind its primary"),
        ("failover", "promoting a replica when the primary is lost"),
        ("vacuum", "reclaiming the space of dead rows"),
    ):
        await memory.stub.CreateSemanticMemory(
            pb.CreateSemanticMemoryRequest(
                namespace="nexus", semantic_memory=semantic_pb2.SemanticMemory(concept=concept, definition=definition)
            )
        )
    response = await memory.stub.SearchSemanticMemories(
        pb.SearchSemanticMemoriesRequest(
            namespace="nexus", query="what is a replica? -failover", mode=episodes_pb2.SEARCH_MODE_TEXT
        )
    )
    assert [hit.semantic_memory.concept for hit in response.hits] == ["replica lag"]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.SearchSemanticMemories(
            pb.SearchSemanticMemoriesRequest(
                namespace="nexus", query="replica", mode=episodes_pb2.SEARCH_MODE_TEXT, min_score=0.5
            )
        )
    assert violated_fields(error.value) == ["min_score"]


async def test_text_search_uses_the_gin_index_under_row_level_security(memory_database_url: str) -> None:
    """Why 0005 and 0006 rank in SECURITY DEFINER functions: under the namespace policy `@@` cannot use the index."""
    scans = (
        "SELECT idx_scan FROM pg_stat_user_indexes WHERE schemaname = 'memory' AND indexrelname = 'episodes_search_idx'"
    )
    connection = await asyncpg.connect(memory_database_url)
    try:
        await connection.execute(
            "INSERT INTO memory.episodes (namespace, content)"
            " SELECT 'nexus', 'routine note number ' || n FROM generate_series(1, 3000) AS n"
        )
        await connection.execute("INSERT INTO memory.episodes (namespace, content) VALUES ('nexus', 'kubernetes')")
        await connection.execute("ANALYZE memory.episodes")
        before = await connection.fetchval(scans)
        async with connection.transaction():
            await connection.execute("SET LOCAL ROLE cerebro_memory")
            await connection.execute("SELECT set_config('cerebro.namespace', 'nexus', true)")
            direct = await connection.fetch(
                "EXPLAIN SELECT episode_id FROM memory.episodes WHERE search_vector @@ 'kubernet'::tsquery"
            )
            assert "episodes_search_idx" not in "\n".join(row[0] for row in direct)
            ranked = await connection.fetch(
                "SELECT e.content FROM memory.rank_episodes_by_text('kubernetes', '{}', '{}', 10,"
                " NULL, NULL, NULL, NULL, NULL) AS hits JOIN memory.episodes e ON e.episode_id = hits.id"
            )
            assert [row["content"] for row in ranked] == ["kubernetes"]
        await connection.execute("SELECT pg_stat_force_next_flush()")
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        assert await connection.fetchval(scans) > before
    finally:
        await connection.close()


async def test_any_lexeme_becomes_its_own_query(admin: asyncpg.Connection) -> None:
    text = "O'Brien's back\\slash C++ e-mail 3.14 naïve user@example.com http://x.io/a?b=c"
    lexemes = [row[0] for row in await admin.fetch("SELECT lexeme FROM unnest(to_tsvector('english', $1))", text)]
    assert len(lexemes) > 8
    for lexeme in lexemes:
        assert await admin.fetchval("SELECT to_tsvector('english', $1) @@ memory.lexeme_query($2)", text, lexeme), (
            lexeme
        )


def test_the_query_syntax() -> None:
    query = parse_text_query('deploy "blue green" -staging -"dry run" state-of-the-art "unclosed')
    assert query.words == ("deploy", "state-of-the-art")
    assert query.phrases == ("blue green", "unclosed")
    assert query.exclusions == ("staging", "dry run")
    assert query.meaning == "deploy blue green state-of-the-art unclosed"
    assert parse_text_query("-only -these").is_empty
    assert not parse_text_query("a - b").exclusions
