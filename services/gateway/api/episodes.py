"""Remember, Recall, recent episodes, and correcting or forgetting episodes: the caller's episodic memory."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import grpc
from google.protobuf import field_mask_pb2, struct_pb2
from google.protobuf.json_format import MessageToDict

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import episodes_pb2
from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from cerebro.runtime.violations import Violations
from services.gateway.api.base import ApiBase
from services.gateway.downstream import FieldMap

MAX_ACTION_TYPE_CHARS = 100
MAX_BATCH_EPISODES = 1_000
ACTION_KEY = "action"
# What an agent may correct in an episode (the memory service also allows project_id and occur_time).
UPDATABLE_FIELDS = ("content", "tags", "importance", "metadata")

CONTENT_FIELDS = {"episode": "", "request_id": "request_id"}
# The content of an action episode is made from its type and details; its metadata holds the action.
ACTION_FIELDS = {"episode": "", "episode.content": "action_details", "request_id": "request_id"}


def action_content(action_type: str, details: dict[str, object]) -> str:
    """Searchable text of an action: its type, then its details as JSON (never truncated)."""
    if not details:
        return action_type
    return f"{action_type}: {json.dumps(details, ensure_ascii=False, sort_keys=True)}"


def episode_of(request: pb.RememberRequest) -> episodes_pb2.Episode:
    """The episode to store for a valid Remember request."""
    episode = episodes_pb2.Episode(tags=request.tags, project_id=request.project_id)
    episode.metadata.CopyFrom(request.metadata)
    if request.HasField("importance"):
        episode.importance = request.importance
    if request.HasField("occur_time"):
        episode.occur_time.CopyFrom(request.occur_time)
    if not request.action_type:
        episode.content = request.content
        return episode
    details = MessageToDict(request.action_details)
    episode.content = action_content(request.action_type, details)
    action = struct_pb2.Struct()
    action.update({"action_type": request.action_type})
    action["action_details"] = request.action_details
    if request.HasField("context_state"):
        action["context_state"] = request.context_state
    episode.metadata[ACTION_KEY] = action
    return episode


def check_remember(violations: Violations, prefix: str, request: pb.RememberRequest) -> None:
    """What only the gateway knows about a Remember request (fields named from ``prefix``); the memory
    service checks the episode itself."""
    if bool(request.content) == bool(request.action_type):
        violations.add(f"{prefix}content", "exactly one of content and action_type is required")
    if request.action_type:
        violations.text(f"{prefix}action_type", request.action_type, max_chars=MAX_ACTION_TYPE_CHARS)
    else:
        for name in ("action_details", "context_state"):
            if request.HasField(name):
                violations.add(f"{prefix}{name}", "is only allowed with action_type")
    if ACTION_KEY in request.metadata.fields:
        violations.add(f"{prefix}metadata.{ACTION_KEY}", "is reserved for the action of an action episode")


def batch_fields(items: Sequence[pb.RememberRequest]) -> FieldMap:
    """The memory service's names of a batch's fields (``requests[i].episode...``) in RememberBatch's terms."""
    fields: dict[str, str] = {"requests": "episodes"}
    for index, item in enumerate(items):
        for downstream, gateway in (ACTION_FIELDS if item.action_type else CONTENT_FIELDS).items():
            fields[f"requests[{index}].{downstream}" if downstream else f"requests[{index}]"] = (
                f"episodes[{index}].{gateway}" if gateway else f"episodes[{index}]"
            )
    return fields


def check_update(request: pb.UpdateEpisodeRequest) -> set[str]:
    """The update mask's paths of a valid UpdateEpisode request."""
    violations = Violations()
    violations.uuid("episode.episode_id", request.episode.episode_id)
    paths = violations.update_mask("update_mask", request.update_mask, UPDATABLE_FIELDS)
    if ACTION_KEY in request.episode.metadata.fields:
        violations.add(f"episode.metadata.{ACTION_KEY}", "is reserved for the action of an action episode")
    violations.raise_if_any()
    return paths


class EpisodesApi(ApiBase):
    async def Remember(self, request: pb.RememberRequest, context: grpc.aio.ServicerContext) -> pb.RememberResponse:
        violations = Violations()
        check_remember(violations, "", request)
        violations.raise_if_any()
        namespace = await self.own_namespace()
        downstream = memory_pb.CreateEpisodeRequest(
            namespace=namespace, episode=episode_of(request), request_id=request.request_id or str(uuid.uuid4())
        )
        response = await self.memory(
            lambda stub, timeout: stub.CreateEpisode(downstream, timeout=timeout),
            idempotent=True,
            fields=ACTION_FIELDS if request.action_type else CONTENT_FIELDS,
        )
        return pb.RememberResponse(episode=response.episode)

    async def RememberBatch(
        self, request: pb.RememberBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.RememberBatchResponse:
        violations = Violations()
        if violations.count("episodes", request.episodes, max_items=MAX_BATCH_EPISODES, min_items=1):
            for index, item in enumerate(request.episodes):
                check_remember(violations, f"episodes[{index}].", item)
        violations.raise_if_any()
        namespace = await self.own_namespace()
        # One memory call, one transaction: every episode of the batch is stored, or none.
        downstream = memory_pb.BatchCreateEpisodesRequest(
            namespace=namespace,
            requests=[
                memory_pb.CreateEpisodeRequest(
                    episode=episode_of(item), request_id=item.request_id or str(uuid.uuid4())
                )
                for item in request.episodes
            ],
        )
        response = await self.memory(
            lambda stub, timeout: stub.BatchCreateEpisodes(downstream, timeout=timeout),
            idempotent=True,
            fields=batch_fields(request.episodes),
        )
        return pb.RememberBatchResponse(episodes=response.episodes)

    async def Recall(self, request: pb.RecallRequest, context: grpc.aio.ServicerContext) -> pb.RecallResponse:
        namespace = await self.readable_namespace(request.namespace)
        downstream = memory_pb.SearchEpisodesRequest(
            namespace=namespace,
            query=request.query,
            mode=request.mode,
            filter=request.filter,
            top_k=request.top_k,
            weighting=request.weighting,
            context_window=request.context_window,
        )
        if request.HasField("min_score"):
            downstream.min_score = request.min_score
        response = await self.memory(
            lambda stub, timeout: stub.SearchEpisodes(downstream, timeout=timeout), idempotent=True
        )
        return pb.RecallResponse(
            hits=response.hits, vector_search_skipped=response.vector_search_skipped, namespace=namespace
        )

    async def ListRecentEpisodes(
        self, request: pb.ListRecentEpisodesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRecentEpisodesResponse:
        namespace = await self.readable_namespace(request.namespace)
        downstream = memory_pb.ListEpisodesRequest(
            namespace=namespace, filter=request.filter, page_size=request.page_size, page_token=request.page_token
        )
        response = await self.memory(
            lambda stub, timeout: stub.ListEpisodes(downstream, timeout=timeout), idempotent=True
        )
        return pb.ListRecentEpisodesResponse(episodes=response.episodes, next_page_token=response.next_page_token)

    async def UpdateEpisode(
        self, request: pb.UpdateEpisodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateEpisodeResponse:
        paths = check_update(request)
        namespace = await self.own_namespace()
        episode = episodes_pb2.Episode()
        episode.CopyFrom(request.episode)
        if "metadata" in paths:
            # New metadata replaces the old, but an action episode keeps its action.
            current = await self._episode(namespace, request.episode.episode_id)
            if ACTION_KEY in current.metadata.fields:
                episode.metadata[ACTION_KEY] = current.metadata[ACTION_KEY]
        downstream = memory_pb.UpdateEpisodeRequest(
            namespace=namespace, episode=episode, update_mask=field_mask_pb2.FieldMask(paths=sorted(paths))
        )
        # Not idempotent: a retried update could undo a concurrent one.
        response = await self.memory(
            lambda stub, timeout: stub.UpdateEpisode(downstream, timeout=timeout), idempotent=False
        )
        return pb.UpdateEpisodeResponse(episode=response.episode)

    async def _episode(self, namespace: str, episode_id: str) -> episodes_pb2.Episode:
        downstream = memory_pb.GetEpisodeRequest(namespace=namespace, episode_id=episode_id)
        response = await self.memory(
            lambda stub, timeout: stub.GetEpisode(downstream, timeout=timeout),
            idempotent=True,
            fields={"episode_id": "episode.episode_id"},
        )
        return response.episode

    async def DeleteEpisode(
        self, request: pb.DeleteEpisodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteEpisodeResponse:
        downstream = memory_pb.DeleteEpisodeRequest(namespace=await self.own_namespace(), episode_id=request.episode_id)
        # Not retried: a retry after a lost response would report the deleted episode NOT_FOUND.
        await self.memory(lambda stub, timeout: stub.DeleteEpisode(downstream, timeout=timeout), idempotent=False)
        return pb.DeleteEpisodeResponse()

    async def ForgetEpisodes(
        self, request: pb.ForgetEpisodesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ForgetEpisodesResponse:
        downstream = memory_pb.PurgeEpisodesRequest(
            namespace=await self.own_namespace(), filter=request.filter, force=request.force
        )
        # A dry run is retried; a forget is not, since a retry would count only what was left.
        response = await self.memory(
            lambda stub, timeout: stub.PurgeEpisodes(downstream, timeout=timeout), idempotent=not request.force
        )
        return pb.ForgetEpisodesResponse(forget_count=response.purge_count, forget_sample=response.purge_sample)
