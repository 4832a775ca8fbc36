"""AsyncCerebroClient: every AgentGateway method in agent terms, on one grpc.aio channel.

Every method returns the RPC's response message (streams: an async iterator of them) and raises a
:class:`cerebro.client.errors.CerebroError` subclass on failure. Creating methods generate a
``request_id`` when none is given, so the channel's automatic retries of UNAVAILABLE are safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import duration_pb2, field_mask_pb2, json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from cerebro.client.channel import open_gateway_channel
from cerebro.client.errors import CerebroError, from_rpc_error
from cerebro.client.settings import ClientSettings
from cerebro.client.signing import AgentSigner, registration_request
from cerebro.consensus.keys import load_or_create_identity_key
from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import gateway_pb2_grpc, resources_pb2
from cerebro.memory.v1 import episodes_pb2, identity_pb2, namespaces_pb2, semantic_pb2, working_memory_pb2
from cerebro.read_tokens import REQUIRED_HEADER, WRITTEN_HEADER, ReadToken, header_token, later

log = logging.getLogger(__name__)

JsonObject = Mapping[str, Any]

Request = TypeVar("Request", bound=Message)
Response = TypeVar("Response", bound=Message)

DEFAULT_VOTING_WINDOW = timedelta(minutes=5)
# Renewing every third of the lease leaves two more tries before it runs out.
RENEWALS_PER_LEASE = 3
# watch_tasks opens its stream again after these (the server went away, or too many streams were open).
RECONNECTED_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
RECONNECT_MIN_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 5.0


def _struct(value: JsonObject | None) -> struct_pb2.Struct | None:
    if value is None:
        return None
    message = struct_pb2.Struct()
    message.update(value)
    return message


def _timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def _duration(value: timedelta | None) -> duration_pb2.Duration | None:
    if value is None:
        return None
    message = duration_pb2.Duration()
    message.FromTimedelta(value)
    return message


def _new_request_id() -> str:
    return str(uuid.uuid4())


class AsyncCerebroClient:
    """The gateway for one agent. Use ``async with AsyncCerebroClient(...)`` or call :meth:`close`.

    ``settings`` defaults to :meth:`ClientSettings.from_env` (CEREBRO_GATEWAY_TARGET, CEREBRO_API_KEY(_FILE),
    CEREBRO_TLS_*). :meth:`propose` and :meth:`vote` need a signer: the one given here, or the one
    :meth:`register_instance` sets up.
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        signer: AgentSigner | None = None,
        call_metadata: Callable[[], Sequence[tuple[str, str]]] | None = None,
    ) -> None:
        """``call_metadata``, asked at each call, adds metadata to it: a face in front of the gateway
        passes on its own client's address that way (:mod:`cerebro.forwarded_client`)."""
        self.settings = settings or ClientSettings.from_env()
        self.signer = signer
        self._call_metadata = call_metadata
        self._lease_keeper: asyncio.Task[None] | None = None
        self._channel = open_gateway_channel(self.settings)
        self._stub = gateway_pb2_grpc.AgentGatewayStub(self._channel)
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {self.settings.api_key}"),) if self.settings.api_key else ()
        )
        # The latest write's read token (cerebro.read_tokens): every call sends it, so this client's
        # reads see its own writes even when the gateway's memory service reads from a replica.
        self.read_token: ReadToken | None = None

    async def __aenter__(self) -> AsyncCerebroClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._stop_keeping_lease()
        await self._channel.close(grace=None)

    async def _call(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[Request, Response],
        request: Request,
        timeout: float | None,
    ) -> Response:
        call = method(request, timeout=timeout or self.settings.timeout_seconds, metadata=self._session_metadata())
        try:
            response = await call
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None
        self.read_token = later(self.read_token, header_token(await call.trailing_metadata(), WRITTEN_HEADER))
        return response

    def _session_metadata(self) -> tuple[tuple[str, str], ...]:
        metadata = self._metadata
        if self.read_token is not None:
            metadata = (*metadata, (REQUIRED_HEADER, str(self.read_token)))
        if self._call_metadata is not None:
            metadata = (*metadata, *self._call_metadata())
        return metadata

    async def _stream(
        self,
        method: grpc.aio.UnaryStreamMultiCallable[Request, Response],
        request: Request,
        timeout: float | None,
    ) -> AsyncIterator[Response]:
        # Streams live until the server ends them: no deadline unless the caller gives one.
        call = method(request, timeout=timeout, metadata=self._session_metadata())
        try:
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None
        finally:
            call.cancel()

    # Episodic memory

    async def remember(
        self,
        content: str = "",
        *,
        action_type: str = "",
        action_details: JsonObject | None = None,
        context_state: JsonObject | None = None,
        tags: Sequence[str] = (),
        importance: float | None = None,
        metadata: JsonObject | None = None,
        project_id: str = "",
        occur_time: datetime | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> pb.RememberResponse:
        """Store an episode: plain ``content``, or an action (``action_type`` and its details)."""
        request = pb.RememberRequest(
            request_id=request_id or _new_request_id(),
            content=content,
            action_type=action_type,
            action_details=_struct(action_details),
            context_state=_struct(context_state),
            tags=tags,
            importance=importance,
            metadata=_struct(metadata),
            project_id=project_id,
            occur_time=_timestamp(occur_time),
        )
        return await self._call(self._stub.Remember, request, timeout)

    async def remember_batch(
        self, episodes: Sequence[pb.RememberRequest | JsonObject], *, timeout: float | None = None
    ) -> pb.RememberBatchResponse:
        """Store up to 1,000 episodes in one call: all of them, or none when any is bad.

        Each item is a ``RememberRequest`` or the same in its canonical JSON form (``{"content": ...,
        "tags": [...], "request_id": ...}``; a ``ValueError`` names the index of one that is not). An
        item without a ``request_id`` gets one here, so retrying the call stores nothing twice; give
        your own (stable) ids to make a replay of the same items idempotent.
        """
        items = []
        for index, episode in enumerate(episodes):
            if isinstance(episode, pb.RememberRequest):
                item = pb.RememberRequest()
                item.CopyFrom(episode)
            else:
                try:
                    item = json_format.ParseDict(dict(episode), pb.RememberRequest())
                except json_format.ParseError as error:
                    raise ValueError(f"episodes[{index}]: {error}") from None
            item.request_id = item.request_id or _new_request_id()
            items.append(item)
        return await self._call(self._stub.RememberBatch, pb.RememberBatchRequest(episodes=items), timeout)

    async def recall(
        self,
        query: str,
        *,
        mode: episodes_pb2.SearchMode.ValueType = episodes_pb2.SEARCH_MODE_UNSPECIFIED,
        filter: episodes_pb2.EpisodeFilter | None = None,
        top_k: int = 0,
        weighting: episodes_pb2.SearchWeighting | None = None,
        namespace: str = "",
        min_score: float | None = None,
        context_window: int = 0,
        timeout: float | None = None,
    ) -> pb.RecallResponse:
        """Find episodes by text and meaning (hybrid unless ``mode`` says otherwise).

        ``query`` may hold ``"phrases"`` (required) and ``-exclusions``; ``filter`` limits the time range
        (``start_time``, ``end_time`` on the occurrence time), ``weighting`` favours recent or important
        episodes; ``min_score`` is the smallest cosine similarity of a vector candidate; each hit brings up
        to ``context_window`` episodes before and after it.
        """
        request = pb.RecallRequest(
            query=query,
            mode=mode,
            filter=filter,
            top_k=top_k,
            weighting=weighting,
            namespace=namespace,
            min_score=min_score,
            context_window=context_window,
        )
        return await self._call(self._stub.Recall, request, timeout)

    async def recent_episodes(
        self,
        *,
        filter: episodes_pb2.EpisodeFilter | None = None,
        page_size: int = 0,
        page_token: str = "",
        namespace: str = "",
        timeout: float | None = None,
    ) -> pb.ListRecentEpisodesResponse:
        request = pb.ListRecentEpisodesRequest(
            filter=filter, page_size=page_size, page_token=page_token, namespace=namespace
        )
        return await self._call(self._stub.ListRecentEpisodes, request, timeout)

    async def update_episode(
        self,
        episode_id: str,
        *,
        content: str | None = None,
        tags: Sequence[str] | None = None,
        importance: float | None = None,
        metadata: JsonObject | None = None,
        timeout: float | None = None,
    ) -> pb.UpdateEpisodeResponse:
        """Correct the given fields of an episode; new ``content`` is embedded again, new ``metadata``
        replaces the old (an action episode keeps its action)."""
        changes = {"content": content, "tags": tags, "importance": importance, "metadata": metadata}
        request = pb.UpdateEpisodeRequest(
            episode=episodes_pb2.Episode(
                episode_id=episode_id,
                content=content or "",
                tags=tags or (),
                importance=importance,
                metadata=_struct(metadata),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=sorted(f for f, new in changes.items() if new is not None)),
        )
        return await self._call(self._stub.UpdateEpisode, request, timeout)

    async def delete_episode(self, episode_id: str, *, timeout: float | None = None) -> pb.DeleteEpisodeResponse:
        return await self._call(self._stub.DeleteEpisode, pb.DeleteEpisodeRequest(episode_id=episode_id), timeout)

    async def forget_episodes(
        self, filter: episodes_pb2.EpisodeFilter, *, force: bool = False, timeout: float | None = None
    ) -> pb.ForgetEpisodesResponse:
        """Forget every episode ``filter`` matches; without ``force`` only count them (a dry run)."""
        request = pb.ForgetEpisodesRequest(filter=filter, force=force)
        return await self._call(self._stub.ForgetEpisodes, request, timeout)

    # Projects

    async def create_project(
        self,
        display_name: str,
        *,
        dna: str = "",
        description: str = "",
        metadata: JsonObject | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> pb.CreateProjectResponse:
        project = namespaces_pb2.Project(
            display_name=display_name, dna=dna, description=description, metadata=_struct(metadata)
        )
        request = pb.CreateProjectRequest(project=project, request_id=request_id or _new_request_id())
        return await self._call(self._stub.CreateProject, request, timeout)

    async def get_project(
        self, project_id: str, *, namespace: str = "", timeout: float | None = None
    ) -> pb.GetProjectResponse:
        request = pb.GetProjectRequest(project_id=project_id, namespace=namespace)
        return await self._call(self._stub.GetProject, request, timeout)

    async def list_projects(
        self,
        *,
        status: namespaces_pb2.ProjectStatus.ValueType = namespaces_pb2.PROJECT_STATUS_UNSPECIFIED,
        page_size: int = 0,
        page_token: str = "",
        namespace: str = "",
        timeout: float | None = None,
    ) -> pb.ListProjectsResponse:
        request = pb.ListProjectsRequest(status=status, page_size=page_size, page_token=page_token, namespace=namespace)
        return await self._call(self._stub.ListProjects, request, timeout)

    async def archive_project(self, project_id: str, *, timeout: float | None = None) -> pb.ArchiveProjectResponse:
        return await self._call(self._stub.ArchiveProject, pb.ArchiveProjectRequest(project_id=project_id), timeout)

    # Working memory

    async def list_working_memory(
        self, *, context_type: str = "", page_size: int = 0, page_token: str = "", timeout: float | None = None
    ) -> pb.ListWorkingMemoryItemsResponse:
        request = pb.ListWorkingMemoryItemsRequest(
            context_type=context_type, page_size=page_size, page_token=page_token
        )
        return await self._call(self._stub.ListWorkingMemoryItems, request, timeout)

    async def get_working_memory(
        self, item_id: str, *, timeout: float | None = None
    ) -> pb.GetWorkingMemoryItemResponse:
        return await self._call(
            self._stub.GetWorkingMemoryItem, pb.GetWorkingMemoryItemRequest(item_id=item_id), timeout
        )

    async def put_working_memory(
        self,
        content: JsonObject,
        *,
        context_type: str = "",
        item_id: str = "",
        priority: working_memory_pb2.WorkingMemoryPriority.ValueType = (
            working_memory_pb2.WORKING_MEMORY_PRIORITY_UNSPECIFIED
        ),
        ttl: timedelta | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> pb.PutWorkingMemoryItemResponse:
        """Create an item (``context_type`` required), or replace item ``item_id``'s content, priority and ttl."""
        item = working_memory_pb2.WorkingMemoryItem(
            item_id=item_id, context_type=context_type, content=_struct(content), priority=priority, ttl=_duration(ttl)
        )
        request = pb.PutWorkingMemoryItemRequest(item=item, request_id=request_id or _new_request_id())
        return await self._call(self._stub.PutWorkingMemoryItem, request, timeout)

    async def delete_working_memory(
        self, item_id: str, *, timeout: float | None = None
    ) -> pb.DeleteWorkingMemoryItemResponse:
        return await self._call(
            self._stub.DeleteWorkingMemoryItem, pb.DeleteWorkingMemoryItemRequest(item_id=item_id), timeout
        )

    # Memory blocks

    async def list_blocks(
        self, *, page_size: int = 0, page_token: str = "", namespace: str = "", timeout: float | None = None
    ) -> pb.ListMemoryBlocksResponse:
        request = pb.ListMemoryBlocksRequest(page_size=page_size, page_token=page_token, namespace=namespace)
        return await self._call(self._stub.ListMemoryBlocks, request, timeout)

    async def get_block(
        self, label: str, *, namespace: str = "", timeout: float | None = None
    ) -> pb.GetMemoryBlockResponse:
        return await self._call(
            self._stub.GetMemoryBlock, pb.GetMemoryBlockRequest(label=label, namespace=namespace), timeout
        )

    async def create_block(
        self,
        label: str,
        value: str,
        *,
        description: str = "",
        char_limit: int = 0,
        read_only: bool = False,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> pb.CreateMemoryBlockResponse:
        block = identity_pb2.MemoryBlock(
            label=label, value=value, description=description, char_limit=char_limit, read_only=read_only
        )
        request = pb.CreateMemoryBlockRequest(block=block, request_id=request_id or _new_request_id())
        return await self._call(self._stub.CreateMemoryBlock, request, timeout)

    async def update_block(
        self,
        label: str,
        *,
        value: str | None = None,
        description: str | None = None,
        char_limit: int | None = None,
        expected_version: int | None = None,
        timeout: float | None = None,
    ) -> pb.UpdateMemoryBlockResponse:
        """Change the given fields of block ``label`` (only if its version is ``expected_version``, when set)."""
        changes = {"value": value, "description": description, "char_limit": char_limit}
        # Proto3 cannot tell an unset field from an empty one: the mask says which fields change.
        request = pb.UpdateMemoryBlockRequest(
            block=identity_pb2.MemoryBlock(
                label=label, value=value or "", description=description or "", char_limit=char_limit or 0
            ),
            update_mask=field_mask_pb2.FieldMask(paths=sorted(f for f, new in changes.items() if new is not None)),
            expected_version=expected_version,
        )
        return await self._call(self._stub.UpdateMemoryBlock, request, timeout)

    async def list_block_revisions(
        self,
        label: str,
        *,
        page_size: int = 0,
        page_token: str = "",
        namespace: str = "",
        timeout: float | None = None,
    ) -> pb.ListMemoryBlockRevisionsResponse:
        """The versions of block ``label``, newest first."""
        request = pb.ListMemoryBlockRevisionsRequest(
            label=label, page_size=page_size, page_token=page_token, namespace=namespace
        )
        return await self._call(self._stub.ListMemoryBlockRevisions, request, timeout)

    # Checkpoints, identity state

    async def create_checkpoint(
        self,
        checkpoint_type: str,
        state_data: JsonObject,
        *,
        metadata: JsonObject | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> pb.CreateCheckpointResponse:
        checkpoint = identity_pb2.Checkpoint(
            checkpoint_type=checkpoint_type, state_data=_struct(state_data), metadata=_struct(metadata)
        )
        request = pb.CreateCheckpointRequest(checkpoint=checkpoint, request_id=request_id or _new_request_id())
        return await self._call(self._stub.CreateCheckpoint, request, timeout)

    async def restore_checkpoint(
        self, checkpoint_id: str = "", *, timeout: float | None = None
    ) -> pb.RestoreCheckpointResponse:
        """The checkpoint (the latest when no id is given) and how much the identity changed since."""
        return await self._call(
            self._stub.RestoreCheckpoint, pb.RestoreCheckpointRequest(checkpoint_id=checkpoint_id), timeout
        )

    async def list_checkpoints(
        self, *, checkpoint_type: str = "", page_size: int = 0, page_token: str = "", timeout: float | None = None
    ) -> pb.ListCheckpointsResponse:
        request = pb.ListCheckpointsRequest(checkpoint_type=checkpoint_type, page_size=page_size, page_token=page_token)
        return await self._call(self._stub.ListCheckpoints, request, timeout)

    async def get_checkpoint(self, checkpoint_id: str, *, timeout: float | None = None) -> pb.GetCheckpointResponse:
        return await self._call(self._stub.GetCheckpoint, pb.GetCheckpointRequest(checkpoint_id=checkpoint_id), timeout)

    async def get_identity_state(self, *, timeout: float | None = None) -> pb.GetIdentityStateResponse:
        return await self._call(self._stub.GetIdentityState, pb.GetIdentityStateRequest(), timeout)

    async def update_identity_state(
        self, state: identity_pb2.ConsciousnessState, fields: Sequence[str], *, timeout: float | None = None
    ) -> pb.UpdateIdentityStateResponse:
        """Set the ``fields`` of ``state`` (e.g. "current_focus", "emotional_vector") and nothing else."""
        request = pb.UpdateIdentityStateRequest(state=state, update_mask=field_mask_pb2.FieldMask(paths=fields))
        return await self._call(self._stub.UpdateIdentityState, request, timeout)

    async def heartbeat(self, *, timeout: float | None = None) -> pb.HeartbeatResponse:
        return await self._call(self._stub.Heartbeat, pb.HeartbeatRequest(), timeout)

    # Semantic knowledge

    async def upsert_knowledge(
        self,
        knowledge: semantic_pb2.SemanticMemory,
        *,
        fields: Sequence[str] = (),
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> pb.UpsertKnowledgeResponse:
        """Store ``knowledge`` (no ``semantic_memory_id``), or set its ``fields`` on the existing one."""
        request = pb.UpsertKnowledgeRequest(
            knowledge=knowledge,
            update_mask=field_mask_pb2.FieldMask(paths=fields) if fields else None,
            request_id=request_id or _new_request_id(),
        )
        return await self._call(self._stub.UpsertKnowledge, request, timeout)

    async def search_knowledge(
        self,
        query: str,
        *,
        mode: episodes_pb2.SearchMode.ValueType = episodes_pb2.SEARCH_MODE_UNSPECIFIED,
        top_k: int = 0,
        min_confidence: float | None = None,
        namespace: str = "",
        min_score: float | None = None,
        timeout: float | None = None,
    ) -> pb.SearchKnowledgeResponse:
        request = pb.SearchKnowledgeRequest(
            query=query,
            mode=mode,
            top_k=top_k,
            min_confidence=min_confidence,
            namespace=namespace,
            min_score=min_score,
        )
        return await self._call(self._stub.SearchKnowledge, request, timeout)

    async def get_knowledge(
        self, semantic_memory_id: str, *, namespace: str = "", timeout: float | None = None
    ) -> pb.GetKnowledgeResponse:
        request = pb.GetKnowledgeRequest(semantic_memory_id=semantic_memory_id, namespace=namespace)
        return await self._call(self._stub.GetKnowledge, request, timeout)

    async def lookup_knowledge(
        self, concept: str, *, namespace: str = "", timeout: float | None = None
    ) -> pb.LookupKnowledgeResponse:
        """The newest knowledge of ``concept`` (compared ignoring case); NotFound when there is none."""
        request = pb.LookupKnowledgeRequest(concept=concept, namespace=namespace)
        return await self._call(self._stub.LookupKnowledge, request, timeout)

    async def list_knowledge(
        self,
        *,
        concept: str = "",
        page_size: int = 0,
        page_token: str = "",
        namespace: str = "",
        timeout: float | None = None,
    ) -> pb.ListKnowledgeResponse:
        request = pb.ListKnowledgeRequest(
            concept=concept, page_size=page_size, page_token=page_token, namespace=namespace
        )
        return await self._call(self._stub.ListKnowledge, request, timeout)

    async def delete_knowledge(
        self, semantic_memory_id: str, *, timeout: float | None = None
    ) -> pb.DeleteKnowledgeResponse:
        request = pb.DeleteKnowledgeRequest(semantic_memory_id=semantic_memory_id)
        return await self._call(self._stub.DeleteKnowledge, request, timeout)

    # The mesh

    async def connected_instances(
        self,
        *,
        region: str = "",
        capability: str = "",
        include_service_replicas: bool = False,
        timeout: float | None = None,
    ) -> pb.ListConnectedInstancesResponse:
        request = pb.ListConnectedInstancesRequest(
            region=region, capability=capability, include_service_replicas=include_service_replicas
        )
        return await self._call(self._stub.ListConnectedInstances, request, timeout)

    async def register_instance(
        self,
        instance_name: str,
        key_file: Path,
        *,
        region: str = "local",
        capabilities: Sequence[str] = (),
        voting: bool = True,
        specialized: bool = False,
        keep_lease: bool = True,
        timeout: float | None = None,
    ) -> pb.RegisterInstanceResponse:
        """Join the instance network as ``instance_name`` (the instance the API key is bound to).

        ``key_file`` holds the agent's Ed25519 key (PEM), created with mode 0600 on first use; registering
        again with it keeps the instance id. Afterwards this client signs proposals and votes as that
        instance, and, with ``keep_lease``, renews its lease in the background until :meth:`close` or
        :meth:`deregister_instance`.
        """
        key = load_or_create_identity_key(key_file)
        request = registration_request(
            key, instance_name, region=region, capabilities=capabilities, voting=voting, specialized=specialized
        )
        response: pb.RegisterInstanceResponse = await self._call(self._stub.RegisterInstance, request, timeout)
        self.signer = AgentSigner(key, response.instance.instance_id)
        await self._stop_keeping_lease()
        if keep_lease:
            self._lease_keeper = asyncio.create_task(
                self._keep_lease(response.lease_ttl_seconds), name=f"cerebro-lease-{instance_name}"
            )
        return response

    async def renew_instance_lease(self, *, timeout: float | None = None) -> pb.RenewInstanceLeaseResponse:
        """Renew the lease of this client's instance now (registered instances renew it by themselves)."""
        return await self._call(self._stub.RenewInstanceLease, self._require_signer().renew_lease_request(), timeout)

    async def deregister_instance(self, *, timeout: float | None = None) -> pb.DeregisterInstanceResponse:
        """Leave the instance network; the instance is offline until it registers again."""
        await self._stop_keeping_lease()
        return await self._call(self._stub.DeregisterInstance, self._require_signer().deregister_request(), timeout)

    async def _keep_lease(self, lease_ttl_seconds: float) -> None:
        interval = lease_ttl_seconds / RENEWALS_PER_LEASE
        while True:
            await asyncio.sleep(interval)
            try:
                renewed = await self.renew_instance_lease(timeout=interval)
            except CerebroError as error:
                # The next renewal may still succeed within the lease (the gateway or consensus was away).
                log.warning("renewing the instance lease failed: %s", error.one_line())
                continue
            interval = renewed.lease_ttl_seconds / RENEWALS_PER_LEASE

    async def _stop_keeping_lease(self) -> None:
        keeper, self._lease_keeper = self._lease_keeper, None
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    def _require_signer(self) -> AgentSigner:
        if self.signer is None:
            raise ValueError(
                "this needs the agent's signer: call register_instance() first, or pass AsyncCerebroClient(signer=...)"
            )
        return self.signer

    async def propose(
        self,
        topic: str,
        *,
        options: Sequence[str] = (),
        deadline: datetime | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> pb.ProposeResponse:
        """Put ``topic`` to a vote, signed by this agent; votes are accepted until ``deadline`` (5 min)."""
        request = self._require_signer().propose_request(
            topic,
            deadline or datetime.now(UTC) + DEFAULT_VOTING_WINDOW,
            options,
            request_id or _new_request_id(),
        )
        return await self._call(self._stub.Propose, request, timeout)

    async def vote(self, proposal_id: str, choice: str, *, timeout: float | None = None) -> pb.VoteResponse:
        """Vote ``choice`` on a proposal, signed by this agent (the same vote again changes nothing)."""
        return await self._call(self._stub.Vote, self._require_signer().vote_request(proposal_id, choice), timeout)

    async def get_decision(self, proposal_id: str, *, timeout: float | None = None) -> pb.GetDecisionResponse:
        return await self._call(self._stub.GetDecision, pb.GetDecisionRequest(proposal_id=proposal_id), timeout)

    def watch_decisions(
        self, proposal_id: str = "", *, timeout: float | None = None
    ) -> AsyncIterator[pb.WatchDecisionsResponse]:
        """The current state of the watched proposals, then every change (one proposal: until its outcome)."""
        return self._stream(self._stub.WatchDecisions, pb.WatchDecisionsRequest(proposal_id=proposal_id), timeout)

    async def publish_learning(
        self,
        concept: str,
        *,
        definition: str = "",
        relationships: JsonObject | None = None,
        confidence: float | None = None,
        learning_id: str | None = None,
        timeout: float | None = None,
    ) -> pb.PublishLearningResponse:
        """Share a learning with every other subscribed instance (``learning_id`` makes a retry harmless)."""
        learning = resources_pb2.Learning(
            learning_id=learning_id or _new_request_id(),
            concept=concept,
            definition=definition,
            relationships=_struct(relationships),
            confidence=confidence,
        )
        return await self._call(self._stub.PublishLearning, pb.PublishLearningRequest(learning=learning), timeout)

    def subscribe_learnings(self, *, timeout: float | None = None) -> AsyncIterator[pb.SubscribeLearningsResponse]:
        """Every learning stored for this agent and not acknowledged yet, then new ones as they come.
        Delivery is at least once: deduplicate by learning id, and acknowledge what was handled."""
        return self._stream(self._stub.SubscribeLearnings, pb.SubscribeLearningsRequest(), timeout)

    async def acknowledge_learnings(
        self, learning_ids: Sequence[str], *, timeout: float | None = None
    ) -> pb.AcknowledgeLearningsResponse:
        request = pb.AcknowledgeLearningsRequest(learning_ids=learning_ids)
        return await self._call(self._stub.AcknowledgeLearnings, request, timeout)

    async def get_emotional_state(self, *, timeout: float | None = None) -> pb.GetSharedEmotionalStateResponse:
        return await self._call(self._stub.GetSharedEmotionalState, pb.GetSharedEmotionalStateRequest(), timeout)

    def watch_emotional_state(
        self, *, timeout: float | None = None
    ) -> AsyncIterator[pb.WatchSharedEmotionalStateResponse]:
        """The shared emotional state now, then after each change (close changes may arrive as one)."""
        return self._stream(self._stub.WatchSharedEmotionalState, pb.WatchSharedEmotionalStateRequest(), timeout)

    async def update_emotional_state(
        self,
        *,
        focus: float,
        energy: float,
        excitement: float,
        context: JsonObject | None = None,
        timeout: float | None = None,
    ) -> pb.UpdateSharedEmotionalStateResponse:
        """Share this agent's emotional vector (each component in [0, 1]); the shared state after it."""
        request = pb.UpdateSharedEmotionalStateRequest(
            emotional_vector=identity_pb2.EmotionalVector(focus=focus, energy=energy, excitement=excitement),
            context=_struct(context),
        )
        return await self._call(self._stub.UpdateSharedEmotionalState, request, timeout)

    async def distribute_task(
        self,
        description: str,
        *,
        required_capabilities: Sequence[str] = (),
        preferred_region: str = "",
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> pb.DistributeTaskResponse:
        """The active agent instance best suited to the task, and why."""
        request = pb.DistributeTaskRequest(
            request_id=request_id or _new_request_id(),
            description=description,
            required_capabilities=required_capabilities,
            preferred_region=preferred_region,
        )
        return await self._call(self._stub.DistributeTask, request, timeout)

    # The task inbox

    async def watch_tasks(
        self, after_cursor: int = 0, *, reconnect: bool = True
    ) -> AsyncIterator[pb.WatchTasksResponse]:
        """The tasks assigned to this agent's instance and not acknowledged yet, then each new one, for ever.

        Delivery is at least once: a task comes again on a later stream until it is acknowledged. When
        the stream breaks (UNAVAILABLE, RESOURCE_EXHAUSTED) and ``reconnect`` is set, it is opened again
        after a backoff from the cursor of the last task received, so no task comes twice in one iteration.
        Pass the last ``cursor`` as ``after_cursor`` to resume after a restart without the tasks seen.
        """
        cursor = after_cursor
        backoff = RECONNECT_MIN_SECONDS
        while True:
            call = self._stub.WatchTasks(pb.WatchTasksRequest(after_cursor=cursor), metadata=self._metadata)
            try:
                async for message in call:
                    cursor = message.cursor
                    backoff = RECONNECT_MIN_SECONDS
                    yield message
            except grpc.aio.AioRpcError as error:
                if not reconnect or error.code() not in RECONNECTED_CODES:
                    raise from_rpc_error(error) from None
                log.info("task stream broke (%s); reconnecting from cursor %d", error.code().name, cursor)
            finally:
                call.cancel()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RECONNECT_MAX_SECONDS)

    def watch_task(self, task_id: str, *, timeout: float | None = None) -> AsyncIterator[pb.WatchTasksResponse]:
        """A task as it is now, then after every change, until it succeeds or fails (its distributor or
        assignee only)."""
        return self._stream(self._stub.WatchTasks, pb.WatchTasksRequest(task_id=task_id), timeout)

    async def get_task(self, task_id: str, *, timeout: float | None = None) -> pb.GetTaskResponse:
        return await self._call(self._stub.GetTask, pb.GetTaskRequest(task_id=task_id), timeout)

    async def list_tasks(
        self,
        *,
        distributed: bool = False,
        states: Sequence[resources_pb2.TaskState.ValueType] = (),
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> pb.ListTasksResponse:
        """Tasks assigned to this agent's instance (or, ``distributed``, those it distributed), newest first."""
        request = pb.ListTasksRequest(
            distributed=distributed, states=states, page_size=page_size, page_token=page_token
        )
        return await self._call(self._stub.ListTasks, request, timeout)

    async def acknowledge_task(self, task_id: str, *, timeout: float | None = None) -> pb.AcknowledgeTaskResponse:
        """Take an assigned task on; it is not delivered again."""
        return await self._call(self._stub.AcknowledgeTask, pb.AcknowledgeTaskRequest(task_id=task_id), timeout)

    async def report_task_progress(
        self,
        task_id: str,
        *,
        progress: float | None = None,
        status_message: str = "",
        timeout: float | None = None,
    ) -> pb.ReportTaskProgressResponse:
        """How far an acknowledged task is: ``progress`` in [0, 1], and what is happening."""
        request = pb.ReportTaskProgressRequest(task_id=task_id, progress=progress, status_message=status_message)
        return await self._call(self._stub.ReportTaskProgress, request, timeout)

    async def complete_task(
        self, task_id: str, *, result: JsonObject | None = None, timeout: float | None = None
    ) -> pb.CompleteTaskResponse:
        request = pb.CompleteTaskRequest(task_id=task_id, result=_struct(result))
        return await self._call(self._stub.CompleteTask, request, timeout)

    async def fail_task(
        self, task_id: str, error_message: str, *, result: JsonObject | None = None, timeout: float | None = None
    ) -> pb.FailTaskResponse:
        request = pb.FailTaskRequest(task_id=task_id, error_message=error_message, result=_struct(result))
        return await self._call(self._stub.FailTask, request, timeout)

    # The system

    async def stats(self, *, timeout: float | None = None) -> pb.GetStatsResponse:
        return await self._call(self._stub.GetStats, pb.GetStatsRequest(), timeout)

    async def health(self, *, timeout: float | None = None) -> pb.GetHealthResponse:
        return await self._call(self._stub.GetHealth, pb.GetHealthRequest(), timeout)
