"""Episodic memory in PostgreSQL: `memory.episodes` (the enqueuing of embeddings is done by triggers)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from cerebro.runtime.errors import already_exists, invalid_argument, not_found
from cerebro.runtime.pagination import Key
from services.memory.db import Connection, MemoryDatabase, namespace_errors, note_written
from services.memory.store.filters import Conditions, EpisodeFilter, add_episode_filter, episode_text_filter_args

# Columns every read returns; `job_state` tells a failed embedding from a pending one.
COLUMNS = """e.episode_id, e.namespace, e.content, e.importance, e.tags, e.metadata, e.project_id,
    e.occurred_at, e.created_at, e.updated_at,
    (SELECT v.embedding_version FROM memory.episode_vectors v WHERE v.episode_id = e.episode_id) AS embedding_version,
    (SELECT q.state FROM memory.embeddings_queue q WHERE q.episode_id = e.episode_id) AS job_state"""
COLUMNS_WITH_EMBEDDING = (
    COLUMNS + ",\n    (SELECT v.embedding FROM memory.episode_vectors v WHERE v.episode_id = e.episode_id) AS embedding"
)


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


# SQLSTATE of memory.create_episodes (migration 0010) for project ids that are not the namespace's.
PROJECTS_MISSING = "CB422"


async def create_episodes(
    db: MemoryDatabase,
    namespace: str,
    episodes: Sequence[NewEpisode],
    request_id_fields: Sequence[str],
    project_fields: Sequence[str],
) -> list[asyncpg.Record]:
    """Insert ``episodes`` in one statement on the primary (one round trip); their rows in input order.

    An episode whose request id was used before is not inserted again: the earlier row is returned
    (ALREADY_EXISTS if that earlier request differed). ``request_id_fields`` and ``project_fields``
    name each episode's request id and project id fields for error messages. NOT_FOUND when the
    namespace does not exist; INVALID_ARGUMENT naming each project id the namespace does not have.
    """
    ids = [uuid.uuid4() for _ in episodes]
    try:
        with namespace_errors(namespace):
            # Tags and metadata travel as JSON text: nested lists would be read as a multidimensional array.
            rows = await db.primary.fetch(
                "SELECT * FROM memory.create_episodes($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
    except asyncpg.PostgresError as error:
        if error.sqlstate != PROJECTS_MISSING:
            raise
        missing = set((error.detail or "").split(","))
        raise invalid_argument(
            [
                (field, f"project {episode.project_id} does not exist in namespace {namespace!r}")
                for field, episode in zip(project_fields, episodes, strict=True)
                if str(episode.project_id) in missing
            ]
        ) from None
    for row, episode, field in zip(rows, episodes, request_id_fields, strict=True):
        if row["created"]:
            continue
        if row["episode_id"] is None:
            # The first request's row was deleted after it was created: the id cannot be reused.
            raise already_exists("request", str(episode.request_id), f"{field} {episode.request_id} was already used")
        if row["request_digest"] != episode.request_digest:
            raise already_exists(
                "request",
                str(episode.request_id),
                f"{field} {episode.request_id} was already used for a different request",
            )
    if rows:
        note_written(rows[0])
    return rows


async def find_episode(db: MemoryDatabase, namespace: str, episode_id: uuid.UUID) -> asyncpg.Record:
    """The episode without its vector, in one round trip (replica or primary: MemoryDatabase.reading)."""
    async with db.reading() as connection:
        with namespace_errors(namespace):
            row = await connection.fetchrow("SELECT * FROM memory.get_episode($1, $2)", namespace, episode_id)
    if row is None:
        raise not_found("episode", str(episode_id))
    return row


async def find_episodes(
    db: MemoryDatabase, namespace: str, selected: EpisodeFilter, *, after: Key | None, limit: int
) -> list[asyncpg.Record]:
    """:func:`list_episodes` without vectors, in one round trip (replica or primary)."""
    async with db.reading() as connection:
        with namespace_errors(namespace):
            return await connection.fetch(
                "SELECT * FROM memory.list_episodes($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                namespace,
                selected.project_id,
                selected.tags or None,
                selected.start_time,
                selected.end_time,
                selected.min_importance,
                None if after is None else after[0],
                None if after is None else after[1],
                limit,
            )


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
    db: MemoryDatabase, namespace: str, episode_id: uuid.UUID, changes: EpisodeChanges
) -> asyncpg.Record:
    """Apply ``changes`` in one statement on the primary; the episode as it is now (without its vector).

    A content change drops the vector and re-enqueues the episode (triggers). NOT_FOUND for a missing
    namespace or episode; INVALID_ARGUMENT (``episode.project_id``) for a project the namespace lacks.
    """
    changing = [
        changes.content is not None,
        changes.importance is not None,
        changes.tags is not None,
        changes.metadata is not None,
        changes.project_id is not None or changes.clear_project,
        changes.occurred_at is not None,
    ]
    try:
        with namespace_errors(namespace):
            row = await db.primary.fetchrow(
                "SELECT * FROM memory.update_episode($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)",
                namespace,
                episode_id,
                changing,
                changes.content,
                changes.importance,
                changes.tags,
                changes.metadata,
                changes.project_id,
                changes.occurred_at,
            )
    except asyncpg.PostgresError as error:
        if error.sqlstate != PROJECTS_MISSING:
            raise
        raise invalid_argument(
            [("episode.project_id", f"project {changes.project_id} does not exist in namespace {namespace!r}")]
        ) from None
    if row is None:
        raise not_found("episode", str(episode_id))
    note_written(row)
    return row


async def delete_episode(db: MemoryDatabase, namespace: str, episode_id: uuid.UUID) -> None:
    """Delete in one statement on the primary; NOT_FOUND for a missing namespace or episode."""
    with namespace_errors(namespace):
        row = await db.primary.fetchrow("SELECT * FROM memory.delete_episode($1, $2)", namespace, episode_id)
    assert row is not None  # the function returns one row
    if not row["deleted"]:
        raise not_found("episode", str(episode_id))
    note_written(row)


PURGE_SAMPLE_SIZE = 100


@dataclass(frozen=True)
class Purge:
    count: int
    sample: list[uuid.UUID]


async def purge_episodes(db: MemoryDatabase, namespace: str, selected: EpisodeFilter, *, force: bool) -> Purge:
    """Delete the episodes of ``namespace`` that ``selected`` matches (their embedding jobs go by cascade), or,
    without ``force``, only count them (on the replica when there is one); with up to PURGE_SAMPLE_SIZE of
    their ids, newest first. One statement (migration 0012); NOT_FOUND for a missing namespace."""
    async with db.primary.acquire() if force else db.reading() as connection:
        with namespace_errors(namespace):
            row = await connection.fetchrow(
                "SELECT * FROM memory.purge_episodes($1, $2, $3, $4, $5, $6, $7, $8)",
                namespace,
                *episode_text_filter_args(selected),
                PURGE_SAMPLE_SIZE,
                force,
            )
    assert row is not None  # the function returns one row
    if force:
        note_written(row)
    return Purge(count=row["purge_count"], sample=list(row["purge_sample"]))


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
