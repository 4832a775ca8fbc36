import datetime

from cerebro.memory.v1 import episodes_pb2 as _episodes_pb2
from cerebro.memory.v1 import identity_pb2 as _identity_pb2
from cerebro.memory.v1 import namespaces_pb2 as _namespaces_pb2
from cerebro.memory.v1 import semantic_pb2 as _semantic_pb2
from cerebro.memory.v1 import working_memory_pb2 as _working_memory_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateNamespaceRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: _namespaces_pb2.Namespace
    def __init__(self, namespace: _Optional[_Union[_namespaces_pb2.Namespace, _Mapping]] = ...) -> None: ...

class CreateNamespaceResponse(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: _namespaces_pb2.Namespace
    def __init__(self, namespace: _Optional[_Union[_namespaces_pb2.Namespace, _Mapping]] = ...) -> None: ...

class GetNamespaceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetNamespaceResponse(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: _namespaces_pb2.Namespace
    def __init__(self, namespace: _Optional[_Union[_namespaces_pb2.Namespace, _Mapping]] = ...) -> None: ...

class ListNamespacesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListNamespacesResponse(_message.Message):
    __slots__ = ("namespaces", "next_page_token")
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    namespaces: _containers.RepeatedCompositeFieldContainer[_namespaces_pb2.Namespace]
    next_page_token: str
    def __init__(self, namespaces: _Optional[_Iterable[_Union[_namespaces_pb2.Namespace, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateEpisodeRequest(_message.Message):
    __slots__ = ("namespace", "episode", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    episode: _episodes_pb2.Episode
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., episode: _Optional[_Union[_episodes_pb2.Episode, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateEpisodeResponse(_message.Message):
    __slots__ = ("episode",)
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    episode: _episodes_pb2.Episode
    def __init__(self, episode: _Optional[_Union[_episodes_pb2.Episode, _Mapping]] = ...) -> None: ...

class BatchCreateEpisodesRequest(_message.Message):
    __slots__ = ("namespace", "requests")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    requests: _containers.RepeatedCompositeFieldContainer[CreateEpisodeRequest]
    def __init__(self, namespace: _Optional[str] = ..., requests: _Optional[_Iterable[_Union[CreateEpisodeRequest, _Mapping]]] = ...) -> None: ...

class BatchCreateEpisodesResponse(_message.Message):
    __slots__ = ("episodes",)
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    episodes: _containers.RepeatedCompositeFieldContainer[_episodes_pb2.Episode]
    def __init__(self, episodes: _Optional[_Iterable[_Union[_episodes_pb2.Episode, _Mapping]]] = ...) -> None: ...

class GetEpisodeRequest(_message.Message):
    __slots__ = ("namespace", "episode_id", "view")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    episode_id: str
    view: _episodes_pb2.EpisodeView
    def __init__(self, namespace: _Optional[str] = ..., episode_id: _Optional[str] = ..., view: _Optional[_Union[_episodes_pb2.EpisodeView, str]] = ...) -> None: ...

class GetEpisodeResponse(_message.Message):
    __slots__ = ("episode",)
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    episode: _episodes_pb2.Episode
    def __init__(self, episode: _Optional[_Union[_episodes_pb2.Episode, _Mapping]] = ...) -> None: ...

class ListEpisodesRequest(_message.Message):
    __slots__ = ("namespace", "filter", "page_size", "page_token", "view")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    filter: _episodes_pb2.EpisodeFilter
    page_size: int
    page_token: str
    view: _episodes_pb2.EpisodeView
    def __init__(self, namespace: _Optional[str] = ..., filter: _Optional[_Union[_episodes_pb2.EpisodeFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., view: _Optional[_Union[_episodes_pb2.EpisodeView, str]] = ...) -> None: ...

class ListEpisodesResponse(_message.Message):
    __slots__ = ("episodes", "next_page_token")
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    episodes: _containers.RepeatedCompositeFieldContainer[_episodes_pb2.Episode]
    next_page_token: str
    def __init__(self, episodes: _Optional[_Iterable[_Union[_episodes_pb2.Episode, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateEpisodeRequest(_message.Message):
    __slots__ = ("namespace", "episode", "update_mask")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    episode: _episodes_pb2.Episode
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, namespace: _Optional[str] = ..., episode: _Optional[_Union[_episodes_pb2.Episode, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateEpisodeResponse(_message.Message):
    __slots__ = ("episode",)
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    episode: _episodes_pb2.Episode
    def __init__(self, episode: _Optional[_Union[_episodes_pb2.Episode, _Mapping]] = ...) -> None: ...

class DeleteEpisodeRequest(_message.Message):
    __slots__ = ("namespace", "episode_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    episode_id: str
    def __init__(self, namespace: _Optional[str] = ..., episode_id: _Optional[str] = ...) -> None: ...

class DeleteEpisodeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SearchEpisodesRequest(_message.Message):
    __slots__ = ("namespace", "query", "mode", "filter", "top_k", "weighting", "min_score", "context_window")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    WEIGHTING_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    query: str
    mode: _episodes_pb2.SearchMode
    filter: _episodes_pb2.EpisodeFilter
    top_k: int
    weighting: _episodes_pb2.SearchWeighting
    min_score: float
    context_window: int
    def __init__(self, namespace: _Optional[str] = ..., query: _Optional[str] = ..., mode: _Optional[_Union[_episodes_pb2.SearchMode, str]] = ..., filter: _Optional[_Union[_episodes_pb2.EpisodeFilter, _Mapping]] = ..., top_k: _Optional[int] = ..., weighting: _Optional[_Union[_episodes_pb2.SearchWeighting, _Mapping]] = ..., min_score: _Optional[float] = ..., context_window: _Optional[int] = ...) -> None: ...

class SearchEpisodesResponse(_message.Message):
    __slots__ = ("hits", "vector_search_skipped")
    HITS_FIELD_NUMBER: _ClassVar[int]
    VECTOR_SEARCH_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[_episodes_pb2.EpisodeHit]
    vector_search_skipped: bool
    def __init__(self, hits: _Optional[_Iterable[_Union[_episodes_pb2.EpisodeHit, _Mapping]]] = ..., vector_search_skipped: _Optional[bool] = ...) -> None: ...

class CreateWorkingMemoryItemRequest(_message.Message):
    __slots__ = ("namespace", "item", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    item: _working_memory_pb2.WorkingMemoryItem
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., item: _Optional[_Union[_working_memory_pb2.WorkingMemoryItem, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateWorkingMemoryItemResponse(_message.Message):
    __slots__ = ("item",)
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: _working_memory_pb2.WorkingMemoryItem
    def __init__(self, item: _Optional[_Union[_working_memory_pb2.WorkingMemoryItem, _Mapping]] = ...) -> None: ...

class GetWorkingMemoryItemRequest(_message.Message):
    __slots__ = ("namespace", "item_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    item_id: str
    def __init__(self, namespace: _Optional[str] = ..., item_id: _Optional[str] = ...) -> None: ...

class GetWorkingMemoryItemResponse(_message.Message):
    __slots__ = ("item",)
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: _working_memory_pb2.WorkingMemoryItem
    def __init__(self, item: _Optional[_Union[_working_memory_pb2.WorkingMemoryItem, _Mapping]] = ...) -> None: ...

class ListWorkingMemoryItemsRequest(_message.Message):
    __slots__ = ("namespace", "context_type", "page_size", "page_token")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    context_type: str
    page_size: int
    page_token: str
    def __init__(self, namespace: _Optional[str] = ..., context_type: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWorkingMemoryItemsResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_working_memory_pb2.WorkingMemoryItem]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[_working_memory_pb2.WorkingMemoryItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateWorkingMemoryItemRequest(_message.Message):
    __slots__ = ("namespace", "item", "update_mask")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    item: _working_memory_pb2.WorkingMemoryItem
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, namespace: _Optional[str] = ..., item: _Optional[_Union[_working_memory_pb2.WorkingMemoryItem, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateWorkingMemoryItemResponse(_message.Message):
    __slots__ = ("item",)
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: _working_memory_pb2.WorkingMemoryItem
    def __init__(self, item: _Optional[_Union[_working_memory_pb2.WorkingMemoryItem, _Mapping]] = ...) -> None: ...

class DeleteWorkingMemoryItemRequest(_message.Message):
    __slots__ = ("namespace", "item_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    item_id: str
    def __init__(self, namespace: _Optional[str] = ..., item_id: _Optional[str] = ...) -> None: ...

class DeleteWorkingMemoryItemResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateMemoryBlockRequest(_message.Message):
    __slots__ = ("namespace", "block", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    block: _identity_pb2.MemoryBlock
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., block: _Optional[_Union[_identity_pb2.MemoryBlock, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateMemoryBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _identity_pb2.MemoryBlock
    def __init__(self, block: _Optional[_Union[_identity_pb2.MemoryBlock, _Mapping]] = ...) -> None: ...

class GetMemoryBlockRequest(_message.Message):
    __slots__ = ("namespace", "block_id", "label")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    block_id: str
    label: str
    def __init__(self, namespace: _Optional[str] = ..., block_id: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class GetMemoryBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _identity_pb2.MemoryBlock
    def __init__(self, block: _Optional[_Union[_identity_pb2.MemoryBlock, _Mapping]] = ...) -> None: ...

class ListMemoryBlocksRequest(_message.Message):
    __slots__ = ("namespace", "page_size", "page_token")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    page_size: int
    page_token: str
    def __init__(self, namespace: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMemoryBlocksResponse(_message.Message):
    __slots__ = ("blocks", "next_page_token")
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    blocks: _containers.RepeatedCompositeFieldContainer[_identity_pb2.MemoryBlock]
    next_page_token: str
    def __init__(self, blocks: _Optional[_Iterable[_Union[_identity_pb2.MemoryBlock, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateMemoryBlockRequest(_message.Message):
    __slots__ = ("namespace", "block", "update_mask", "expected_version")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    block: _identity_pb2.MemoryBlock
    update_mask: _field_mask_pb2.FieldMask
    expected_version: int
    def __init__(self, namespace: _Optional[str] = ..., block: _Optional[_Union[_identity_pb2.MemoryBlock, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UpdateMemoryBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _identity_pb2.MemoryBlock
    def __init__(self, block: _Optional[_Union[_identity_pb2.MemoryBlock, _Mapping]] = ...) -> None: ...

class DeleteMemoryBlockRequest(_message.Message):
    __slots__ = ("namespace", "block_id", "expected_version")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    block_id: str
    expected_version: int
    def __init__(self, namespace: _Optional[str] = ..., block_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class DeleteMemoryBlockResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMemoryBlockRevisionsRequest(_message.Message):
    __slots__ = ("namespace", "block_id", "page_size", "page_token")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    block_id: str
    page_size: int
    page_token: str
    def __init__(self, namespace: _Optional[str] = ..., block_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMemoryBlockRevisionsResponse(_message.Message):
    __slots__ = ("revisions", "next_page_token")
    REVISIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    revisions: _containers.RepeatedCompositeFieldContainer[_identity_pb2.MemoryBlockRevision]
    next_page_token: str
    def __init__(self, revisions: _Optional[_Iterable[_Union[_identity_pb2.MemoryBlockRevision, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateCheckpointRequest(_message.Message):
    __slots__ = ("namespace", "checkpoint", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    checkpoint: _identity_pb2.Checkpoint
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., checkpoint: _Optional[_Union[_identity_pb2.Checkpoint, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint",)
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    checkpoint: _identity_pb2.Checkpoint
    def __init__(self, checkpoint: _Optional[_Union[_identity_pb2.Checkpoint, _Mapping]] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ("namespace", "checkpoint_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    checkpoint_id: str
    def __init__(self, namespace: _Optional[str] = ..., checkpoint_id: _Optional[str] = ...) -> None: ...

class GetCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint",)
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    checkpoint: _identity_pb2.Checkpoint
    def __init__(self, checkpoint: _Optional[_Union[_identity_pb2.Checkpoint, _Mapping]] = ...) -> None: ...

class ListCheckpointsRequest(_message.Message):
    __slots__ = ("namespace", "checkpoint_type", "page_size", "page_token")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    checkpoint_type: str
    page_size: int
    page_token: str
    def __init__(self, namespace: _Optional[str] = ..., checkpoint_type: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCheckpointsResponse(_message.Message):
    __slots__ = ("checkpoints", "next_page_token")
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    checkpoints: _containers.RepeatedCompositeFieldContainer[_identity_pb2.Checkpoint]
    next_page_token: str
    def __init__(self, checkpoints: _Optional[_Iterable[_Union[_identity_pb2.Checkpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RestoreCheckpointRequest(_message.Message):
    __slots__ = ("namespace", "checkpoint_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    checkpoint_id: str
    def __init__(self, namespace: _Optional[str] = ..., checkpoint_id: _Optional[str] = ...) -> None: ...

class RestoreCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint", "continuity_score", "identity_matches", "changed_labels")
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    CONTINUITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_MATCHES_FIELD_NUMBER: _ClassVar[int]
    CHANGED_LABELS_FIELD_NUMBER: _ClassVar[int]
    checkpoint: _identity_pb2.Checkpoint
    continuity_score: float
    identity_matches: bool
    changed_labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, checkpoint: _Optional[_Union[_identity_pb2.Checkpoint, _Mapping]] = ..., continuity_score: _Optional[float] = ..., identity_matches: _Optional[bool] = ..., changed_labels: _Optional[_Iterable[str]] = ...) -> None: ...

class GetConsciousnessStateRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class GetConsciousnessStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _identity_pb2.ConsciousnessState
    def __init__(self, state: _Optional[_Union[_identity_pb2.ConsciousnessState, _Mapping]] = ...) -> None: ...

class UpdateConsciousnessStateRequest(_message.Message):
    __slots__ = ("namespace", "state", "update_mask")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    state: _identity_pb2.ConsciousnessState
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, namespace: _Optional[str] = ..., state: _Optional[_Union[_identity_pb2.ConsciousnessState, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateConsciousnessStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _identity_pb2.ConsciousnessState
    def __init__(self, state: _Optional[_Union[_identity_pb2.ConsciousnessState, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _identity_pb2.ConsciousnessState
    def __init__(self, state: _Optional[_Union[_identity_pb2.ConsciousnessState, _Mapping]] = ...) -> None: ...

class CreateProjectRequest(_message.Message):
    __slots__ = ("namespace", "project", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    project: _namespaces_pb2.Project
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., project: _Optional[_Union[_namespaces_pb2.Project, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateProjectResponse(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: _namespaces_pb2.Project
    def __init__(self, project: _Optional[_Union[_namespaces_pb2.Project, _Mapping]] = ...) -> None: ...

class GetProjectRequest(_message.Message):
    __slots__ = ("namespace", "project_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    project_id: str
    def __init__(self, namespace: _Optional[str] = ..., project_id: _Optional[str] = ...) -> None: ...

class GetProjectResponse(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: _namespaces_pb2.Project
    def __init__(self, project: _Optional[_Union[_namespaces_pb2.Project, _Mapping]] = ...) -> None: ...

class ListProjectsRequest(_message.Message):
    __slots__ = ("namespace", "status", "page_size", "page_token")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    status: _namespaces_pb2.ProjectStatus
    page_size: int
    page_token: str
    def __init__(self, namespace: _Optional[str] = ..., status: _Optional[_Union[_namespaces_pb2.ProjectStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProjectsResponse(_message.Message):
    __slots__ = ("projects", "next_page_token")
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    projects: _containers.RepeatedCompositeFieldContainer[_namespaces_pb2.Project]
    next_page_token: str
    def __init__(self, projects: _Optional[_Iterable[_Union[_namespaces_pb2.Project, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateProjectRequest(_message.Message):
    __slots__ = ("namespace", "project", "update_mask")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    project: _namespaces_pb2.Project
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, namespace: _Optional[str] = ..., project: _Optional[_Union[_namespaces_pb2.Project, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateProjectResponse(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: _namespaces_pb2.Project
    def __init__(self, project: _Optional[_Union[_namespaces_pb2.Project, _Mapping]] = ...) -> None: ...

class DeleteProjectRequest(_message.Message):
    __slots__ = ("namespace", "project_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    project_id: str
    def __init__(self, namespace: _Optional[str] = ..., project_id: _Optional[str] = ...) -> None: ...

class DeleteProjectResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateSemanticMemoryRequest(_message.Message):
    __slots__ = ("namespace", "semantic_memory", "request_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_MEMORY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    semantic_memory: _semantic_pb2.SemanticMemory
    request_id: str
    def __init__(self, namespace: _Optional[str] = ..., semantic_memory: _Optional[_Union[_semantic_pb2.SemanticMemory, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateSemanticMemoryResponse(_message.Message):
    __slots__ = ("semantic_memory",)
    SEMANTIC_MEMORY_FIELD_NUMBER: _ClassVar[int]
    semantic_memory: _semantic_pb2.SemanticMemory
    def __init__(self, semantic_memory: _Optional[_Union[_semantic_pb2.SemanticMemory, _Mapping]] = ...) -> None: ...

class GetSemanticMemoryRequest(_message.Message):
    __slots__ = ("namespace", "semantic_memory_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    semantic_memory_id: str
    def __init__(self, namespace: _Optional[str] = ..., semantic_memory_id: _Optional[str] = ...) -> None: ...

class GetSemanticMemoryResponse(_message.Message):
    __slots__ = ("semantic_memory",)
    SEMANTIC_MEMORY_FIELD_NUMBER: _ClassVar[int]
    semantic_memory: _semantic_pb2.SemanticMemory
    def __init__(self, semantic_memory: _Optional[_Union[_semantic_pb2.SemanticMemory, _Mapping]] = ...) -> None: ...

class ListSemanticMemoriesRequest(_message.Message):
    __slots__ = ("namespace", "page_size", "page_token")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    page_size: int
    page_token: str
    def __init__(self, namespace: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSemanticMemoriesResponse(_message.Message):
    __slots__ = ("semantic_memories", "next_page_token")
    SEMANTIC_MEMORIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    semantic_memories: _containers.RepeatedCompositeFieldContainer[_semantic_pb2.SemanticMemory]
    next_page_token: str
    def __init__(self, semantic_memories: _Optional[_Iterable[_Union[_semantic_pb2.SemanticMemory, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateSemanticMemoryRequest(_message.Message):
    __slots__ = ("namespace", "semantic_memory", "update_mask")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_MEMORY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    semantic_memory: _semantic_pb2.SemanticMemory
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, namespace: _Optional[str] = ..., semantic_memory: _Optional[_Union[_semantic_pb2.SemanticMemory, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateSemanticMemoryResponse(_message.Message):
    __slots__ = ("semantic_memory",)
    SEMANTIC_MEMORY_FIELD_NUMBER: _ClassVar[int]
    semantic_memory: _semantic_pb2.SemanticMemory
    def __init__(self, semantic_memory: _Optional[_Union[_semantic_pb2.SemanticMemory, _Mapping]] = ...) -> None: ...

class DeleteSemanticMemoryRequest(_message.Message):
    __slots__ = ("namespace", "semantic_memory_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    semantic_memory_id: str
    def __init__(self, namespace: _Optional[str] = ..., semantic_memory_id: _Optional[str] = ...) -> None: ...

class DeleteSemanticMemoryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SearchSemanticMemoriesRequest(_message.Message):
    __slots__ = ("namespace", "query", "mode", "top_k", "min_confidence", "min_score")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    query: str
    mode: _episodes_pb2.SearchMode
    top_k: int
    min_confidence: float
    min_score: float
    def __init__(self, namespace: _Optional[str] = ..., query: _Optional[str] = ..., mode: _Optional[_Union[_episodes_pb2.SearchMode, str]] = ..., top_k: _Optional[int] = ..., min_confidence: _Optional[float] = ..., min_score: _Optional[float] = ...) -> None: ...

class SearchSemanticMemoriesResponse(_message.Message):
    __slots__ = ("hits", "vector_search_skipped")
    HITS_FIELD_NUMBER: _ClassVar[int]
    VECTOR_SEARCH_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[_semantic_pb2.SemanticMemoryHit]
    vector_search_skipped: bool
    def __init__(self, hits: _Optional[_Iterable[_Union[_semantic_pb2.SemanticMemoryHit, _Mapping]]] = ..., vector_search_skipped: _Optional[bool] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("episodes_total", "episodes_embedded", "embedding_coverage_percent", "queue_pending", "queue_processing", "queue_dead", "queue_oldest_pending_age", "semantic_memories_total", "working_memory_items", "memory_blocks", "projects", "checkpoints", "last_checkpoint_type", "last_checkpoint_time", "redis_keys", "last_heartbeat_time")
    EPISODES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    EPISODES_EMBEDDED_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_COVERAGE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_PENDING_FIELD_NUMBER: _ClassVar[int]
    QUEUE_PROCESSING_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEAD_FIELD_NUMBER: _ClassVar[int]
    QUEUE_OLDEST_PENDING_AGE_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_MEMORIES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    WORKING_MEMORY_ITEMS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_TYPE_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_TIME_FIELD_NUMBER: _ClassVar[int]
    REDIS_KEYS_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_TIME_FIELD_NUMBER: _ClassVar[int]
    episodes_total: int
    episodes_embedded: int
    embedding_coverage_percent: float
    queue_pending: int
    queue_processing: int
    queue_dead: int
    queue_oldest_pending_age: _duration_pb2.Duration
    semantic_memories_total: int
    working_memory_items: int
    memory_blocks: int
    projects: int
    checkpoints: int
    last_checkpoint_type: str
    last_checkpoint_time: _timestamp_pb2.Timestamp
    redis_keys: int
    last_heartbeat_time: _timestamp_pb2.Timestamp
    def __init__(self, episodes_total: _Optional[int] = ..., episodes_embedded: _Optional[int] = ..., embedding_coverage_percent: _Optional[float] = ..., queue_pending: _Optional[int] = ..., queue_processing: _Optional[int] = ..., queue_dead: _Optional[int] = ..., queue_oldest_pending_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., semantic_memories_total: _Optional[int] = ..., working_memory_items: _Optional[int] = ..., memory_blocks: _Optional[int] = ..., projects: _Optional[int] = ..., checkpoints: _Optional[int] = ..., last_checkpoint_type: _Optional[str] = ..., last_checkpoint_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., redis_keys: _Optional[int] = ..., last_heartbeat_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
