"""Episodes: validation at the edge, the episodes store, and conversion to messages."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import asyncpg

from cerebro.memory.v1 import episodes_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.runtime.errors import invalid_argument
from cerebro.runtime.interceptors import Context
from cerebro.runtime.pagination import paginate
from cerebro.runtime.violations import Violations
from services.memory.api.base import ApiBase
from services.memory.convert import request_digest, struct, timestamp
from services.memory.db import reading_namespace
from services.memory.store import episodes as store
from services.memory.store.filters import EpisodeFilter

MAX_CONTENT_BYTES = 262_144
MAX_METADATA_BYTES = 65_536
MAX_BATCH_EPISODES = 5_000
MAX_BATCH_CONTENT_BYTES = 64 * 1024 * 1024
MAX_TAGS = 64
MAX_TAG_CHARS = 128
DEFAULT_IMPORTANCE = 0.5
UPDATABLE_FIELDS = ("content", "importance", "tags", "metadata", "project_id", "occur_time")


def embedding_state(row: asyncpg.Record) -> episodes_pb2.EmbeddingState.ValueType:
    if row["embedding_version"] is not None:
        return episodes_pb2.EMBEDDING_STATE_EMBEDDED
    if row["job_state"] == "dead":
        return episodes_pb2.EMBEDDING_STATE_FAILED
    return episodes_pb2.EMBEDDING_STATE_PENDING


def episode_message(row: asyncpg.Record, *, with_embedding: bool = False) -> episodes_pb2.Episode:
    episode = episodes_pb2.Episode(
        episode_id=str(row["episode_id"]),
        namespace=row["namespace"],
        content=row["content"],
        importance=row["importance"],
        tags=row["tags"],
        metadata=struct(row["metadata"], f"episode {row['episode_id']} metadata"),
        project_id=str(row["project_id"]) if row["project_id"] else "",
        occur_time=timestamp(row["occurred_at"]),
        create_time=timestamp(row["created_at"]),
        update_time=timestamp(row["updated_at"]),
        embedding_state=embedding_state(row),
        embedding_version=row["embedding_version"] or "",
    )
    if with_embedding and row["embedding"] is not None:
        episode.embedding.extend(row["embedding"].to_list())
    return episode


def parse_tags(violations: Violations, field: str, values: Iterable[str]) -> list[str]:
    """Up to :data:`MAX_TAGS` distinct tags of text (spaces inside a tag are fine)."""
    tags = list(values)
    if violations.count(field, tags, max_items=MAX_TAGS):
        first: dict[str, int] = {}
        for index, tag in enumerate(tags):
            violations.text(f"{field}[{index}]", tag, max_chars=MAX_TAG_CHARS)
            if tag in first:
                violations.add(f"{field}[{index}]", f"repeats {field}[{first[tag]}]")
            first.setdefault(tag, index)
    return tags


def parse_filter(violations: Violations, field: str, message: episodes_pb2.EpisodeFilter) -> EpisodeFilter:
    return EpisodeFilter(
        project_id=violations.uuid(f"{field}.project_id", message.project_id, required=False),
        tags=parse_tags(violations, f"{field}.tags", message.tags),
        start_time=violations.timestamp(
            f"{field}.start_time", message.start_time, present=message.HasField("start_time")
        ),
        end_time=violations.timestamp(f"{field}.end_time", message.end_time, present=message.HasField("end_time")),
        min_importance=(
            violations.fraction(f"{field}.min_importance", message.min_importance)
            if message.HasField("min_importance")
            else None
        ),
    )


def parse_new_episode(
    violations: Violations, prefix: str, request: pb.CreateEpisodeRequest, namespace: str
) -> store.NewEpisode:
    """Validate one create request (fields named from ``prefix``); the request's namespace is ``namespace``."""
    episode = request.episode
    field = f"{prefix}episode"
    request_id = violations.uuid(f"{prefix}request_id", request.request_id, required=False)
    canonical = pb.CreateEpisodeRequest()
    canonical.CopyFrom(request)
    canonical.namespace = namespace
    return store.NewEpisode(
        content=violations.text(f"{field}.content", episode.content, required=True, max_bytes=MAX_CONTENT_BYTES),
        importance=(
            violations.fraction(f"{field}.importance", episode.importance)
            if episode.HasField("importance")
            else DEFAULT_IMPORTANCE
        ),
        tags=parse_tags(violations, f"{field}.tags", episode.tags),
        metadata=violations.struct(f"{field}.metadata", episode.metadata, max_bytes=MAX_METADATA_BYTES),
        project_id=violations.uuid(f"{field}.project_id", episode.project_id, required=False),
        occurred_at=violations.timestamp(
            f"{field}.occur_time", episode.occur_time, present=episode.HasField("occur_time")
        ),
        request_id=request_id,
        request_digest=request_digest(canonical) if request_id is not None else None,
    )


def _list_key(row: asyncpg.Record) -> tuple[datetime, uuid.UUID]:
    """An episode's place in a listing: newest first by (occurred_at, episode_id)."""
    return row["occurred_at"], row["episode_id"]


class EpisodesApi(ApiBase):
    async def CreateEpisode(self, request: pb.CreateEpisodeRequest, context: Context) -> pb.CreateEpisodeResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        if not request.HasField("episode"):
            raise invalid_argument([("episode", "is required")])
        new_episode = parse_new_episode(violations, "", request, namespace)
        violations.raise_if_any()
        [row] = await store.create_episodes(
            self.resources.database, namespace, [new_episode], ["request_id"], ["episode.project_id"]
        )
        return pb.CreateEpisodeResponse(episode=episode_message(row))

    async def BatchCreateEpisodes(
        self, request: pb.BatchCreateEpisodesRequest, context: Context
    ) -> pb.BatchCreateEpisodesResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        count = len(request.requests)
        if not violations.count("requests", request.requests, max_items=MAX_BATCH_EPISODES, min_items=1):
            violations.raise_if_any()
        total_bytes = sum(len(child.episode.content.encode("utf-8")) for child in request.requests)
        if total_bytes > MAX_BATCH_CONTENT_BYTES:
            violations.add("requests", f"carry {total_bytes} bytes of content; the limit is {MAX_BATCH_CONTENT_BYTES}")
        new_episodes = []
        first_use: dict[str, int] = {}
        for index, child in enumerate(request.requests):
            prefix = f"requests[{index}]."
            if child.namespace and child.namespace != request.namespace:
                violations.add(f"{prefix}namespace", "must be empty or equal to the batch's namespace")
            if not child.HasField("episode"):
                violations.add(f"{prefix}episode", "is required")
                continue
            if child.request_id:
                if child.request_id in first_use:
                    violations.add(f"{prefix}request_id", f"repeats requests[{first_use[child.request_id]}].request_id")
                first_use.setdefault(child.request_id, index)
            new_episodes.append(parse_new_episode(violations, prefix, child, namespace))
        violations.raise_if_any()
        rows = await store.create_episodes(
            self.resources.database,
            namespace,
            new_episodes,
            [f"requests[{index}].request_id" for index in range(count)],
            [f"requests[{index}].episode.project_id" for index in range(count)],
        )
        return pb.BatchCreateEpisodesResponse(episodes=[episode_message(row) for row in rows])

    async def GetEpisode(self, request: pb.GetEpisodeRequest, context: Context) -> pb.GetEpisodeResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        episode_id = violations.uuid("episode_id", request.episode_id)
        violations.raise_if_any()
        assert episode_id is not None
        full = request.view == episodes_pb2.EPISODE_VIEW_FULL
        if full:
            async with reading_namespace(self.resources.database, namespace) as connection:
                row = await store.get_episode(connection, namespace, episode_id, with_embedding=True)
        else:
            row = await store.find_episode(self.resources.database, namespace, episode_id)
        return pb.GetEpisodeResponse(episode=episode_message(row, with_embedding=full))

    async def ListEpisodes(self, request: pb.ListEpisodesRequest, context: Context) -> pb.ListEpisodesResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        selected = parse_filter(violations, "filter", request.filter)
        page_size = violations.page_size("page_size", request.page_size)
        violations.raise_if_any()
        full = request.view == episodes_pb2.EPISODE_VIEW_FULL
        if full:
            page = await self.namespace_page(
                request,
                namespace,
                page_size,
                ("time", "uuid"),
                lambda connection, after, limit: store.list_episodes(
                    connection, namespace, selected, after=after, limit=limit, with_embedding=True
                ),
                key=_list_key,
            )
        else:
            page = await paginate(
                request,
                page_size=page_size,
                kinds=("time", "uuid"),
                fetch=lambda after, limit: store.find_episodes(
                    self.resources.database, namespace, selected, after=after, limit=limit
                ),
                key=_list_key,
            )
        return pb.ListEpisodesResponse(
            episodes=[episode_message(row, with_embedding=full) for row in page.items],
            next_page_token=page.next_page_token,
        )

    async def UpdateEpisode(self, request: pb.UpdateEpisodeRequest, context: Context) -> pb.UpdateEpisodeResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        episode = request.episode
        episode_id = violations.uuid("episode.episode_id", episode.episode_id)
        paths = violations.update_mask("update_mask", request.update_mask, UPDATABLE_FIELDS)
        project_id: uuid.UUID | None = None
        if "project_id" in paths:
            project_id = violations.uuid("episode.project_id", episode.project_id, required=False)
        changes = store.EpisodeChanges(
            content=(
                violations.text("episode.content", episode.content, required=True, max_bytes=MAX_CONTENT_BYTES)
                if "content" in paths
                else None
            ),
            importance=(
                violations.fraction(
                    "episode.importance", episode.importance if episode.HasField("importance") else DEFAULT_IMPORTANCE
                )
                if "importance" in paths
                else None
            ),
            tags=parse_tags(violations, "episode.tags", episode.tags) if "tags" in paths else None,
            metadata=(
                violations.struct("episode.metadata", episode.metadata, max_bytes=MAX_METADATA_BYTES)
                if "metadata" in paths
                else None
            ),
            project_id=project_id,
            clear_project="project_id" in paths and project_id is None,
            occurred_at=(
                violations.timestamp("episode.occur_time", episode.occur_time, present=episode.HasField("occur_time"))
                if "occur_time" in paths
                else None
            ),
        )
        if "occur_time" in paths and not episode.HasField("occur_time"):
            violations.add("episode.occur_time", "is required when named in the update mask")
        violations.raise_if_any()
        assert episode_id is not None
        row = await store.update_episode(self.resources.database, namespace, episode_id, changes)
        return pb.UpdateEpisodeResponse(episode=episode_message(row))

    async def DeleteEpisode(self, request: pb.DeleteEpisodeRequest, context: Context) -> pb.DeleteEpisodeResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        episode_id = violations.uuid("episode_id", request.episode_id)
        violations.raise_if_any()
        assert episode_id is not None
        await store.delete_episode(self.resources.database, namespace, episode_id)
        return pb.DeleteEpisodeResponse()

    async def PurgeEpisodes(self, request: pb.PurgeEpisodesRequest, context: Context) -> pb.PurgeEpisodesResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        selected = parse_filter(violations, "filter", request.filter)
        if not request.filter.ListFields():
            violations.add("filter", "needs at least one criterion")
        violations.raise_if_any()
        purge = await store.purge_episodes(self.resources.database, namespace, selected, force=request.force)
        return pb.PurgeEpisodesResponse(
            purge_count=purge.count, purge_sample=[str(episode_id) for episode_id in purge.sample]
        )
