"""SearchEpisodes and SearchSemanticMemories: the query embedded through the Embedder, then hybrid retrieval.

The query is parsed first (services.memory.store.text_query); its words and phrases, without quotes
or exclusions, are embedded while PostgreSQL ranks by text: the two are independent, and the embedding
is the longest step of a search (a model call in another process).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from cerebro.memory.v1 import episodes_pb2, semantic_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.runtime.errors import unavailable
from cerebro.runtime.interceptors import Context
from cerebro.runtime.violations import Violations
from services.memory.api.base import ApiBase
from services.memory.api.episodes import episode_message, parse_filter
from services.memory.api.semantic import semantic_memory_message
from services.memory.db import reading_namespace
from services.memory.embedder_client import EmbeddedTexts, EmbedderError
from services.memory.store import episodes as episodes_store
from services.memory.store import semantic as semantic_store
from services.memory.store.filters import Conditions, add_episode_filter, episode_text_filter_args
from services.memory.store.search import SearchQuery, SearchTarget, rank_by_text, search
from services.memory.store.text_query import TextQuery, parse_text_query

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 8_192
DEFAULT_TOP_K = 10
MAX_TOP_K = 100
DEFAULT_HALF_LIFE_SECONDS = 7 * 86400.0
MAX_CONTEXT_WINDOW = 10

EPISODES = SearchTarget(
    table="memory.episodes",
    vector_table="memory.episode_vectors",
    id_column="episode_id",
    time_column="occurred_at",
    weight_column="importance",
    columns=episodes_store.COLUMNS,
    text_ranking_function="memory.rank_episodes_by_text",
)
SEMANTIC_MEMORIES = SearchTarget(
    table="memory.semantic_memories",
    vector_table="memory.semantic_memory_vectors",
    id_column="semantic_memory_id",
    time_column="created_at",
    weight_column="confidence",
    columns=semantic_store.COLUMNS,
    text_ranking_function="memory.rank_semantic_memories_by_text",
)


def _top_k(violations: Violations, value: int) -> int:
    if value == 0:
        return DEFAULT_TOP_K
    violations.between("top_k", value, 1, MAX_TOP_K)
    return value


def _query(violations: Violations, value: str) -> TextQuery:
    text = violations.text("query", value, required=True, max_bytes=MAX_QUERY_BYTES)
    parsed = parse_text_query(text)
    if text.strip() and parsed.is_empty:
        violations.add("query", "has no word or phrase to search for besides the excluded ones")
    return parsed


def _min_score(
    violations: Violations, request: pb.SearchEpisodesRequest | pb.SearchSemanticMemoriesRequest
) -> float | None:
    """The similarity threshold of the vector ranking; None when not set."""
    if not request.HasField("min_score"):
        return None
    if request.mode == episodes_pb2.SEARCH_MODE_TEXT:
        violations.add("min_score", "is a cosine similarity threshold; text mode has no similarity")
    return violations.fraction("min_score", request.min_score)


@dataclass(frozen=True)
class Found:
    rows: list[asyncpg.Record]
    # The query's embedding; None when the search ran on text only.
    embedded: EmbeddedTexts | None
    # Neighbouring episodes of each hit, by hit id (empty without a context window).
    context: dict[uuid.UUID, list[asyncpg.Record]]


class SearchApi(ApiBase):
    async def _search(
        self,
        target: SearchTarget,
        namespace: str,
        text: TextQuery,
        mode: int,
        top_k: int,
        text_filter_args: Sequence[object],
        add_filters: Callable[[Conditions], None],
        make_query: Callable[[EmbeddedTexts | None], SearchQuery],
        context_window: int = 0,
    ) -> Found:
        embedding = asyncio.create_task(self._embed_query(text.meaning, mode))
        try:
            async with reading_namespace(self.resources.database, namespace) as connection:
                text_hits = None
                if mode != episodes_pb2.SEARCH_MODE_VECTOR:
                    text_hits = await rank_by_text(connection, target, text, top_k, text_filter_args)
                embedded = await embedding
                rows = await search(connection, target, namespace, make_query(embedded), text_hits, add_filters)
                context = {}
                if context_window and rows:
                    hit_ids = [row[target.id_column] for row in rows]
                    context = await episodes_store.neighbours(connection, namespace, hit_ids, context_window)
        finally:
            # Stops the embedding when the search failed first (an unknown namespace, PostgreSQL down).
            embedding.cancel()
            await asyncio.gather(embedding, return_exceptions=True)
        return Found(rows, embedded, context)

    async def _embed_query(self, text: str, mode: int) -> EmbeddedTexts | None:
        """The query's vector; None when a hybrid search must run on text only (Embedder down)."""
        if mode == episodes_pb2.SEARCH_MODE_TEXT:
            return None
        try:
            return await self.resources.embedder.embed_query(text)
        except EmbedderError as error:
            if mode == episodes_pb2.SEARCH_MODE_VECTOR:
                raise unavailable(f"vector search needs the Embedder: {error}") from None
            log.warning("hybrid search runs on text only: %s", error)
            return None

    async def SearchEpisodes(self, request: pb.SearchEpisodesRequest, context: Context) -> pb.SearchEpisodesResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        text = _query(violations, request.query)
        selected = parse_filter(violations, "filter", request.filter)
        top_k = _top_k(violations, request.top_k)
        weighting = request.weighting
        violations.fraction("weighting.recency_weight", weighting.recency_weight)
        violations.fraction("weighting.importance_weight", weighting.importance_weight)
        half_life = DEFAULT_HALF_LIFE_SECONDS
        if weighting.HasField("recency_half_life"):
            half_life = weighting.recency_half_life.ToTimedelta().total_seconds()
            if half_life <= 0:
                violations.add("weighting.recency_half_life", "must be positive")
        min_score = _min_score(violations, request)
        violations.between("context_window", request.context_window, 0, MAX_CONTEXT_WINDOW)
        violations.raise_if_any()

        def make_query(embedded: EmbeddedTexts | None) -> SearchQuery:
            return SearchQuery(
                text=text,
                vector=embedded.vectors[0] if embedded else None,
                embedding_version=embedded.embedding_version if embedded else "",
                top_k=top_k,
                min_similarity=min_score,
                recency_weight=weighting.recency_weight,
                recency_half_life_seconds=half_life,
                importance_weight=weighting.importance_weight,
            )

        def add_filters(conditions: Conditions) -> None:
            add_episode_filter(conditions, "e", selected)

        found = await self._search(
            EPISODES,
            namespace,
            text,
            request.mode,
            top_k,
            episode_text_filter_args(selected),
            add_filters,
            make_query,
            request.context_window,
        )
        return pb.SearchEpisodesResponse(
            hits=[
                episodes_pb2.EpisodeHit(
                    episode=episode_message(row),
                    text_score=row["text_score"],
                    text_rank=row["text_rank"],
                    vector_score=row["vector_score"],
                    vector_rank=row["vector_rank"],
                    fused_score=row["fused_score"],
                    context=[episode_message(neighbour) for neighbour in found.context.get(row["episode_id"], ())],
                )
                for row in found.rows
            ],
            vector_search_skipped=found.embedded is None and request.mode != episodes_pb2.SEARCH_MODE_TEXT,
        )

    async def SearchSemanticMemories(
        self, request: pb.SearchSemanticMemoriesRequest, context: Context
    ) -> pb.SearchSemanticMemoriesResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        text = _query(violations, request.query)
        top_k = _top_k(violations, request.top_k)
        min_confidence = (
            violations.fraction("min_confidence", request.min_confidence)
            if request.HasField("min_confidence")
            else None
        )
        min_score = _min_score(violations, request)
        violations.raise_if_any()

        def make_query(embedded: EmbeddedTexts | None) -> SearchQuery:
            return SearchQuery(
                text=text,
                vector=embedded.vectors[0] if embedded else None,
                embedding_version=embedded.embedding_version if embedded else "",
                top_k=top_k,
                min_similarity=min_score,
            )

        def add_filters(conditions: Conditions) -> None:
            if min_confidence is not None:
                conditions.add(f"e.confidence >= {conditions.param(min_confidence)}")

        found = await self._search(
            SEMANTIC_MEMORIES, namespace, text, request.mode, top_k, (min_confidence,), add_filters, make_query
        )
        return pb.SearchSemanticMemoriesResponse(
            hits=[
                semantic_pb2.SemanticMemoryHit(
                    semantic_memory=semantic_memory_message(row),
                    text_score=row["text_score"],
                    text_rank=row["text_rank"],
                    vector_score=row["vector_score"],
                    vector_rank=row["vector_rank"],
                    fused_score=row["fused_score"],
                )
                for row in found.rows
            ],
            vector_search_skipped=found.embedded is None and request.mode != episodes_pb2.SEARCH_MODE_TEXT,
        )
