"""Episodic memory in PostgreSQL: `memory.episodes` (the enqueuing of embeddings is done by triggers)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from cerebro.runtime.errors import invalid_argument, not_found
from cerebro.runtime.pagination import Key
from services.memory.db import Connection
from services.memory.store.filters import Conditions, EpisodeFilter, add_episode_filter
from services.memory.store.idempotency import replayed_row

# Columns every read returns; `job_state` tells a failed embedding from a pending one.
COLUMNS = """e.episode_id, e.namespace, e.content, e.importance, e.tags, e.metadata, e.project_id,
    e.occurred_at, e.created_at, e.updated_at,
    (SELECT v.embedding_version FROM memory.episode_vectors v WHERE v.episode_id = e.episode_id) AS embedding_version,
    (SELECT q.state FROM memory.embeddings_queue q WHERE q.episode_id = e.episode_id) AS job_state"""
COLUMNS_WITH_EMBEDDING = (
    COLUMNS + ",\n    (SELECT v.embedding FROM memory.episode_vectors v WHERE v.episode_id = e.episode_id) AS embedding"
)
_RETURNING = """episode_id, namespace, content, importance, tags, metadata, project_id, occurred_at,
    created_at, updated_at, NULL::text AS embedding_version, 'pending'::text AS job_state"""


@dataclass(frozen=True)
class NewEpisode:
    content: str
    importance: float
    tags: list[str]
    metadata: dict[str, Any]
    project_id: uuid.UUID | None
    occurred_at: datetime | None
    request_id: uuid.UUID | None
    request_digest: bytes | None


@dataclass(frozen=True)
class EpisodeChanges:
    """New values of the fields named by an update mask; None for fields not being changed."""

    content: str | None = None
    importance: float | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    project_id: uuid.UUID | None = None
    clear_project: bool = False
    occurred_at: datetime | None = None


async def check_projects(connection: Connection, namespace: str, project_ids: Sequence[tuple[str, uuid.UUID]]) -> None:
    """INVALID_ARGUMENT naming every (field, project id) that is not a project of ``namespace``."""
    if not project_ids:
        return
    found = {
        row["project_id"]
        for row in await connection.fetch(
            "SELECT project_id FROM memory.projects WHERE namespace = $1 AND project_id = ANY($2::uuid[])",
            namespace,
            list({project_id for _, project_id in project_ids}),
        )
    }
    missing = [
        (field, f"project {project_id} does not exist in namespace {namespace!r}")
        for field, project_id in project_ids
        if project_id not in found
    ]
    if missing:
        raise invalid_argument(missing)


async def insert_episodes(
    connection: Connection, namespace: str, episodes: Sequence[NewEpisode], request_id_fields: Sequence[str]
) -> list[asyncpg.Record]:
    """Insert ``episodes`` in one statement; returns their rows in input order.

    An episode whose request id was used before is not inserted again: the earlier row is returned
    (ALREADY_EXISTS if that earlier request differed). ``request_id_fields`` name each request id
    field for error messages.
    """
    ids = [uuid.uuid4() for _ in episodes]
    # Tags and metadata travel as JSON text: nested lists would be read as a multidimensional array.
    inserted = await connection.fetch(
        f"""
        INSERT INTO memory.episodes
            (episode_id, namespace, content, importance, tags, metadata, project_id, occurred_at,
             request_id, request_digest)
        SELECT t.episode_id, $1, t.content, t.importance,
               ARRAY(SELECT jsonb_array_elements_text(t.tags::jsonb)), t.metadata::jsonb, t.project_id,
               coalesce(t.occurred_at, now()), t.request_id, t.request_digest
        FROM unnest($2::uuid[], $3::text[], $4::float8[], $5::text[], $6::text[], $7::uuid[],
                    $8::timestamptz[], $9::uuid[], $10::bytea[])
             AS t(episode_id, content, importance, tags, metadata, project_id, occurred_at, request_id, request_digest)
        ON CONFLICT (namespace, request_id) DO NOTHING
        RETURNING {_RETURNING}
        """,
        namespace,
        ids,
        [episode.content for episode in episodes],
        [episode.importance for episode in episodes],
        [json.dumps(episode.tags) for episode in episodes],
        [json.dumps(episode.metadata) for episode in episodes],
        [episode.project_id for episode in episodes],
        [episode.occurred_at for episode in episodes],
        [episode.request_id for episode in episodes],
        [episode.request_digest for episode in episodes],
    )
    by_id = {row["episode_id"]: row for row in inserted}
    rows = []
    for episode_id, episode, field in zip(ids, episodes, request_id_fields, strict=True):
        row = by_id.get(episode_id)
        if row is None:
            assert episode.request_id is not None and episode.request_digest is not None
            row = await replayed_row(
                connection,
                table="episodes e",
                columns=COLUMNS,
                namespace=namespace,
                request_id=episode.request_id,
                digest=episode.request_digest,
                field=field,
            )
        rows.append(row)
    return rows


async def get_episode(
    connection: Connection, namespace: str, episode_id: uuid.UUID, *, with_embedding: bool = False
) -> asyncpg.Record:
    columns = COLUMNS_WITH_EMBEDDING if with_embedding else COLUMNS
    row = await connection.fetchrow(
        f"SELECT {columns} FROM memory.episodes e WHERE e.namespace = $1 AND e.episode_id = $2", namespace, episode_id
    )
    if row is None:
        raise not_found("episode", str(episode_id))
    return row


async def list_episodes(
    connection: Connection,
    namespace: str,
    selected: EpisodeFilter,
    *,
    after: Key | None,
    limit: int,
    with_embedding: bool = False,
) -> list[asyncpg.Record]:
    """Newest first by (occurred_at, episode_id), starting after the key ``after``."""
    conditions = Conditions([namespace])
    conditions.add("e.namespace = $1")
    add_episode_filter(conditions, "e", selected)
    if after is not None:
        conditions.add(f"(e.occurred_at, e.episode_id) < ({conditions.param(after[0])}, {conditions.param(after[1])})")
    columns = COLUMNS_WITH_EMBEDDING if with_embedding else COLUMNS
    return await connection.fetch(
        f"""SELECT {columns} FROM memory.episodes e WHERE {conditions.sql()}
            ORDER BY e.occurred_at DESC, e.episode_id DESC LIMIT {conditions.param(limit)}""",
        *conditions.args,
    )


async def update_episode(
    connection: Connection, namespace: str, episode_id: uuid.UUID, changes: EpisodeChanges
) -> asyncpg.Record:
    """Apply ``changes``; a content change drops the vector and re-enqueues the episode (triggers)."""
    conditions = Conditions([namespace, episode_id])
    assignments = ["updated_at = now()"]
    if changes.content is not None:
        assignments.append(f"content = {conditions.param(changes.content)}")
    if changes.importance is not None:
        assignments.append(f"importance = {conditions.param(changes.importance)}")
    if changes.tags is not None:
        assignments.append(f"tags = {conditions.param(changes.tags)}::text[]")
    if changes.metadata is not None:
        assignments.append(f"metadata = {conditions.param(changes.metadata)}::jsonb")
    if changes.project_id is not None or changes.clear_project:
        assignments.append(f"project_id = {conditions.param(changes.project_id)}::uuid")
    if changes.occurred_at is not None:
        assignments.append(f"occurred_at = {conditions.param(changes.occurred_at)}")
    updated = await connection.fetchval(
        f"""UPDATE memory.episodes SET {", ".join(assignments)}
            WHERE namespace = $1 AND episode_id = $2 RETURNING episode_id""",
        *conditions.args,
    )
    if updated is None:
        raise not_found("episode", str(episode_id))
    return await get_episode(connection, namespace, episode_id)


async def delete_episode(connection: Connection, namespace: str, episode_id: uuid.UUID) -> None:
    deleted = await connection.fetchval(
        "DELETE FROM memory.episodes WHERE namespace = $1 AND episode_id = $2 RETURNING episode_id",
        namespace,
        episode_id,
    )
    if deleted is None:
        raise not_found("episode", str(episode_id))


PURGE_SAMPLE_SIZE = 100


@dataclass(frozen=True)
class Purge:
    count: int
    sample: list[uuid.UUID]


async def purge_episodes(connection: Connection, namespace: str, selected: EpisodeFilter, *, force: bool) -> Purge:
    """Delete the episodes of ``namespace`` that ``selected`` matches (their embedding jobs go by cascade) in
    one statement, or, without ``force``, only count them; with up to PURGE_SAMPLE_SIZE of their ids."""
    conditions = Conditions([namespace])
    conditions.add("e.namespace = $1")
    add_episode_filter(conditions, "e", selected)
    sample_size = conditions.param(PURGE_SAMPLE_SIZE)
    if force:
        row = await connection.fetchrow(
            f"""WITH purged AS (DELETE FROM memory.episodes e WHERE {conditions.sql()} RETURNING e.episode_id)
                SELECT count(*) AS count, (array_agg(episode_id))[1:{sample_size}] AS sample FROM purged""",
            *conditions.args,
        )
    else:
        row = await connection.fetchrow(
            f"""SELECT (SELECT count(*) FROM memory.episodes e WHERE {conditions.sql()}) AS count,
                       ARRAY(SELECT e.episode_id FROM memory.episodes e WHERE {conditions.sql()}
                             ORDER BY e.occurred_at DESC, e.episode_id DESC LIMIT {sample_size}) AS sample""",
            *conditions.args,
        )
    assert row is not None
    return Purge(count=row["count"], sample=list(row["sample"] or []))


# Episodes without a project are neighbours of each other: the same key in the timeline index (0006).
_PROJECT_KEY = "coalesce({alias}.project_id, '00000000-0000-0000-0000-000000000000'::uuid)"


async def neighbours(
    connection: Connection, namespace: str, episode_ids: Sequence[uuid.UUID], window: int
) -> dict[uuid.UUID, list[asyncpg.Record]]:
    """For each episode, up to ``window`` episodes before and after it in (occurred_at, episode_id) order,
    of the same namespace and project, oldest first; each side is one scan of the timeline index."""
    side = """(SELECT {columns} FROM memory.episodes e
              WHERE e.namespace = h.namespace AND {project} = {hit_project}
                AND (e.occurred_at, e.episode_id) {comparison} (h.occurred_at, h.episode_id)
              ORDER BY e.occurred_at {direction}, e.episode_id {direction} LIMIT $3)"""

    def around(comparison: str, direction: str) -> str:
        return side.format(
            columns=COLUMNS,
            project=_PROJECT_KEY.format(alias="e"),
            hit_project=_PROJECT_KEY.format(alias="h"),
            comparison=comparison,
            direction=direction,
        )

    rows = await connection.fetch(
        f"""SELECT h.episode_id AS hit_id, n.*
            FROM memory.episodes h
            CROSS JOIN LATERAL ({around("<", "DESC")} UNION ALL {around(">", "ASC")}) AS n
            WHERE h.namespace = $1 AND h.episode_id = ANY ($2::uuid[])
            ORDER BY h.episode_id, n.occurred_at, n.episode_id""",
        namespace,
        list(episode_ids),
        window,
    )
    found: dict[uuid.UUID, list[asyncpg.Record]] = {episode_id: [] for episode_id in episode_ids}
    for row in rows:
        found[row["hit_id"]].append(row)
    return found
