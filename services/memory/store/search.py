"""Hybrid retrieval: BM25 over PostgreSQL full text and pgvector HNSW cosine, fused by reciprocal rank fusion.

Each ranking contributes its best candidates (:func:`candidate_count`), each 1 / (RRF_K + rank); rows
found by only one ranking still count, so a row without an embedding yet is found by its text alone.
The fused score is then optionally weighted by recency and importance. Why this fusion, this k and
this depth (measured against a convex combination of normalised scores and other depths):
docs/architecture.md ("Search").

The text ranking is its own query (:func:`rank_by_text`), so that it can run while the query is being
embedded, and comes from a SECURITY DEFINER function of migration 0006 (BM25 with per-namespace
statistics; under row-level security PostgreSQL could not use the GIN index for `@@`). The vector
ranking and the fusion are one query (:func:`search`); an ORDER BY on the distance uses the HNSW index
under row-level security too. Phrases and exclusions of the query (services.memory.store.text_query)
constrain both rankings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
from pgvector import Vector

from services.memory.db import Connection
from services.memory.store.filters import Conditions
from services.memory.store.text_query import TextQuery

RRF_K = 60
# Each ranking contributes this many candidates per requested hit (at least MIN_CANDIDATES).
CANDIDATES_PER_HIT = 5
# Also the smallest HNSW ef_search: measured at 100,000 episodes (bench/memory_bench.py), recall@10 is
# 0.93 at 50 and 0.97 at 100, for about 1 ms more per query.
MIN_CANDIDATES = 100
# pgvector's ceiling for hnsw.ef_search.
MAX_CANDIDATES = 1000


def candidate_count(top_k: int) -> int:
    """How many rows each ranking contributes to the fusion, and the HNSW ef_search used to find them."""
    return min(max(top_k * CANDIDATES_PER_HIT, MIN_CANDIDATES), MAX_CANDIDATES)


@dataclass(frozen=True)
class SearchTarget:
    """A searchable table; every name here is a constant in code, never client input."""

    table: str
    # Its vectors (migration 0008): one row per embedded row of `table`, keyed by `id_column`.
    vector_table: str
    id_column: str
    time_column: str
    weight_column: str
    columns: str
    # Ranks the namespace's rows by text: (terms, phrases, exclusions, max_rows, filters...) -> (id, score).
    text_ranking_function: str


@dataclass(frozen=True)
class SearchQuery:
    text: TextQuery
    vector: list[float] | None
    # Vectors of other embedding versions are not comparable with the query's and are skipped.
    embedding_version: str
    top_k: int
    # The smallest cosine similarity a row needs to be a candidate of the vector ranking.
    min_similarity: float | None = None
    recency_weight: float = 0.0
    recency_half_life_seconds: float = 7 * 86400.0
    importance_weight: float = 0.0


async def rank_by_text(
    connection: Connection, target: SearchTarget, text: TextQuery, top_k: int, filter_args: Sequence[object]
) -> list[asyncpg.Record]:
    """(id, score) of the best BM25 matches, best first; ``filter_args`` are the ranking function's filters.

    Must run in a transaction that declared the namespace: the ranking function reads it from there.
    """
    filter_params = "".join(f", ${index}" for index in range(5, 5 + len(filter_args)))
    return await connection.fetch(
        f"SELECT id, score FROM {target.text_ranking_function}($1, $2, $3, $4{filter_params})",
        text.meaning,
        list(text.phrases),
        list(text.exclusions),
        candidate_count(top_k),
        *filter_args,
    )


def _text_ranking(target: SearchTarget, conditions: Conditions, text_hits: Sequence[asyncpg.Record]) -> str:
    ids = conditions.param([hit["id"] for hit in text_hits])
    scores = conditions.param([hit["score"] for hit in text_hits])
    return f"""
        text_ranked AS (
            SELECT hits.id, hits.score, hits.rank, e.{target.time_column} AS moment, e.{target.weight_column} AS weight
            FROM unnest({ids}::uuid[], {scores}::float8[]) WITH ORDINALITY AS hits (id, score, rank)
            JOIN {target.table} e ON e.{target.id_column} = hits.id
        )"""


def _vector_ranking(
    target: SearchTarget, conditions: Conditions, filters: str, search: SearchQuery, candidates: str
) -> str:
    assert search.vector is not None
    query = conditions.param(Vector(search.vector))
    version = conditions.param(search.embedding_version)
    threshold = (
        "" if search.min_similarity is None else f"WHERE 1 - distance >= {conditions.param(search.min_similarity)}"
    )
    # ORDER BY the distance operator with a LIMIT is the shape that uses the HNSW index; the threshold
    # applies to the candidates it found.
    return f"""
        vector_ranked AS (
            SELECT id, 1 - distance AS score, row_number() OVER (ORDER BY distance, id) AS rank, moment, weight
            FROM (
                SELECT e.{target.id_column} AS id, v.embedding <=> {query}::vector AS distance,
                       e.{target.time_column} AS moment, e.{target.weight_column} AS weight
                FROM {target.vector_table} v
                JOIN {target.table} e ON e.{target.id_column} = v.{target.id_column}
                WHERE v.embedding_version = {version} AND {filters}
                ORDER BY v.embedding <=> {query}::vector
                LIMIT {candidates}
            ) AS nearest
            {threshold}
        )"""


_EMPTY = (
    "SELECT NULL::uuid AS id, 0::float8 AS score, 0::bigint AS rank, NULL::timestamptz AS moment, 0::float8 AS weight"
    " WHERE false"
)
_EMPTY_TEXT = f"text_ranked AS ({_EMPTY})"
_EMPTY_VECTOR = f"vector_ranked AS ({_EMPTY})"


def _add_text_constraints(conditions: Conditions, text: TextQuery) -> None:
    """Every phrase and no exclusion, for the vector ranking too (the text ranking applies them itself)."""
    if text.has_constraints:
        phrases = conditions.param(list(text.phrases))
        exclusions = conditions.param(list(text.exclusions))
        # An uncorrelated subquery: the tsquery is built once, not per row.
        conditions.add(
            f"e.search_vector @@ (SELECT memory.required_text_query({phrases}::text[], {exclusions}::text[]))"
        )


async def search(
    connection: Connection,
    target: SearchTarget,
    namespace: str,
    query: SearchQuery,
    text_hits: Sequence[asyncpg.Record] | None,
    add_filters: Callable[[Conditions], None],
) -> list[asyncpg.Record]:
    """Rows of ``target`` with text_score, text_rank, vector_score, vector_rank and fused_score, best first.

    ``text_hits`` is what :func:`rank_by_text` found (None: no text ranking); the vector ranking runs
    here, with ``add_filters`` in its WHERE. Must run inside a transaction: the HNSW settings are set
    for it alone.
    """
    candidates = candidate_count(query.top_k)
    if query.vector is not None:
        # ef_search is the HNSW candidate list: as long as the list we ask for. Iterative scans keep looking
        # until enough rows pass the namespace and filters.
        await connection.execute(
            "SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)",
            str(candidates),
        )
    # Every parameter must appear in the SQL: the filters are added only for the vector ranking's WHERE.
    conditions = Conditions([namespace])
    text_cte = _EMPTY_TEXT if text_hits is None else _text_ranking(target, conditions, text_hits)
    vector_cte = _EMPTY_VECTOR
    if query.vector is not None:
        limit = conditions.param(candidates)
        conditions.add("e.namespace = $1")
        add_filters(conditions)
        _add_text_constraints(conditions, query.text)
        vector_cte = _vector_ranking(target, conditions, conditions.sql(), query, limit)
    recency_weight = conditions.param(query.recency_weight)
    half_life = conditions.param(query.recency_half_life_seconds)
    importance_weight = conditions.param(query.importance_weight)
    top_k = conditions.param(query.top_k)
    sql = f"""
        WITH {text_cte},
        {vector_cte},
        fused AS (
            SELECT coalesce(t.id, v.id) AS id,
                   coalesce(t.score, 0) AS text_score, coalesce(t.rank, 0) AS text_rank,
                   coalesce(v.score, 0) AS vector_score, coalesce(v.rank, 0) AS vector_rank,
                   (coalesce(1.0::float8 / ({RRF_K} + t.rank), 0) + coalesce(1.0::float8 / ({RRF_K} + v.rank), 0))
                   -- Ages beyond 1,000 half-lives count as 1,000: 0.5 to a larger power underflows, an error.
                   * (1 - {recency_weight}::float8 + {recency_weight}::float8 * power(0.5, least(1000, greatest(0,
                        extract(epoch FROM now() - coalesce(t.moment, v.moment)) / {half_life}::float8))))
                   * (1 - {importance_weight}::float8 + {importance_weight}::float8 * coalesce(t.weight, v.weight))
                   AS fused_score
            FROM text_ranked t FULL OUTER JOIN vector_ranked v ON t.id = v.id
            ORDER BY fused_score DESC, id
            LIMIT {top_k}
        )
        -- Only the top hits are joined back for their columns (by primary key).
        SELECT {target.columns}, f.text_score, f.text_rank, f.vector_score, f.vector_rank, f.fused_score
        FROM fused f JOIN {target.table} e ON e.{target.id_column} = f.id
        WHERE e.namespace = $1
        ORDER BY f.fused_score DESC, f.id
    """
    return await connection.fetch(sql, *conditions.args)
