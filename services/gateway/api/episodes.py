"""Remember, Recall and recent episodes: the caller's episodic memory."""

from __future__ import annotations

import json
import uuid

import grpc
from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import episodes_pb2
from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from cerebro.runtime.violations import Violations
from services.gateway.api.base import ApiBase

MAX_ACTION_TYPE_CHARS = 100
ACTION_KEY = "action"

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


def check_remember(request: pb.RememberRequest) -> None:
    violations = Violations()
    if bool(request.content) == bool(request.action_type):
        violations.add("content", "exactly one of content and action_type is required")
    if request.action_type:
        violations.text("action_type", request.action_type, max_chars=MAX_ACTION_TYPE_CHARS)
    else:
        for name in ("action_details", "context_state"):
            if request.HasField(name):
                violations.add(name, "is only allowed with action_type")
    if ACTION_KEY in request.metadata.fields:
        violations.add(f"metadata.{ACTION_KEY}", "is reserved for the action of an action episode")
    violations.raise_if_any()


class EpisodesApi(ApiBase):
    async def Remember(self, request: pb.RememberRequest, context: grpc.aio.ServicerContext) -> pb.RememberResponse:
        check_remember(request)
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
