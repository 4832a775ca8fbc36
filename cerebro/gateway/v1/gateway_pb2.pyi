import datetime

from cerebro.consensus.v1 import consensus_pb2 as _consensus_pb2
from cerebro.gateway.v1 import resources_pb2 as _resources_pb2
from cerebro.memory.v1 import episodes_pb2 as _episodes_pb2
from cerebro.memory.v1 import identity_pb2 as _identity_pb2
from cerebro.memory.v1 import memory_service_pb2 as _memory_service_pb2
from cerebro.memory.v1 import semantic_pb2 as _semantic_pb2
from cerebro.memory.v1 import working_memory_pb2 as _working_memory_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RememberRequest(_message.Message):
    __slots__ = ("request_id", "content", "action_type", "action_details", "context_state", "tags", "importance", "metadata", "project_id", "occur_time")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    ACTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTION_DETAILS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_STATE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    content: str
    action_type: str
    action_details: _struct_pb2.Struct
    context_state: _struct_pb2.Struct
    tags: _containers.RepeatedScalarFieldContainer[str]
    importance: float
    metadata: _struct_pb2.Struct
    project_id: str
    occur_time: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., content: _Optional[str] = ..., action_type: _Optional[str] = ..., action_details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., context_state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., importance: _Optional[float] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., project_id: _Optional[str] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RememberResponse(_message.Message):
    __slots__ = ("episode",)
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    episode: _episodes_pb2.Episode
    def __init__(self, episode: _Optional[_Union[_episodes_pb2.Episode, _Mapping]] = ...) -> None: ...

class RecallRequest(_message.Message):
    __slots__ = ("query", "mode", "filter", "top_k", "weighting", "namespace", "min_score", "context_window")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    WEIGHTING_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    query: str
    mode: _episodes_pb2.SearchMode
    filter: _episodes_pb2.EpisodeFilter
    top_k: int
    weighting: _episodes_pb2.SearchWeighting
    namespace: str
    min_score: float
    context_window: int
    def __init__(self, query: _Optional[str] = ..., mode: _Optional[_Union[_episodes_pb2.SearchMode, str]] = ..., filter: _Optional[_Union[_episodes_pb2.EpisodeFilter, _Mapping]] = ..., top_k: _Optional[int] = ..., weighting: _Optional[_Union[_episodes_pb2.SearchWeighting, _Mapping]] = ..., namespace: _Optional[str] = ..., min_score: _Optional[float] = ..., context_window: _Optional[int] = ...) -> None: ...

class RecallResponse(_message.Message):
    __slots__ = ("hits", "vector_search_skipped", "namespace")
    HITS_FIELD_NUMBER: _ClassVar[int]
    VECTOR_SEARCH_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[_episodes_pb2.EpisodeHit]
    vector_search_skipped: bool
    namespace: str
    def __init__(self, hits: _Optional[_Iterable[_Union[_episodes_pb2.EpisodeHit, _Mapping]]] = ..., vector_search_skipped: _Optional[bool] = ..., namespace: _Optional[str] = ...) -> None: ...

class ListRecentEpisodesRequest(_message.Message):
    __slots__ = ("filter", "page_size", "page_token", "namespace")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    filter: _episodes_pb2.EpisodeFilter
    page_size: int
    page_token: str
    namespace: str
    def __init__(self, filter: _Optional[_Union[_episodes_pb2.EpisodeFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class ListRecentEpisodesResponse(_message.Message):
    __slots__ = ("episodes", "next_page_token")
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    episodes: _containers.RepeatedCompositeFieldContainer[_episodes_pb2.Episode]
    next_page_token: str
    def __init__(self, episodes: _Optional[_Iterable[_Union[_episodes_pb2.Episode, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListWorkingMemoryItemsRequest(_message.Message):
    __slots__ = ("context_type", "page_size", "page_token")
    CONTEXT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    context_type: str
    page_size: int
    page_token: str
    def __init__(self, context_type: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWorkingMemoryItemsResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_working_memory_pb2.WorkingMemoryItem]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[_working_memory_pb2.WorkingMemoryItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetWorkingMemoryItemRequest(_message.Message):
    __slots__ = ("item_id",)
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    def __init__(self, item_id: _Optional[str] = ...) -> None: ...

class GetWorkingMemoryItemResponse(_message.Message):
    __slots__ = ("item",)
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: _working_memory_pb2.WorkingMemoryItem
    def __init__(self, item: _Optional[_Union[_working_memory_pb2.WorkingMemoryItem, _Mapping]] = ...) -> None: ...

class PutWorkingMemoryItemRequest(_message.Message):
    __slots__ = ("item", "request_id")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    item: _working_memory_pb2.WorkingMemoryItem
    request_id: str
    def __init__(self, item: _Optional[_Union[_working_memory_pb2.WorkingMemoryItem, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class PutWorkingMemoryItemResponse(_message.Message):
    __slots__ = ("item", "created")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    item: _working_memory_pb2.WorkingMemoryItem
    created: bool
    def __init__(self, item: _Optional[_Union[_working_memory_pb2.WorkingMemoryItem, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ListMemoryBlocksRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "namespace")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    namespace: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class ListMemoryBlocksResponse(_message.Message):
    __slots__ = ("blocks", "next_page_token")
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    blocks: _containers.RepeatedCompositeFieldContainer[_identity_pb2.MemoryBlock]
    next_page_token: str
    def __init__(self, blocks: _Optional[_Iterable[_Union[_identity_pb2.MemoryBlock, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetMemoryBlockRequest(_message.Message):
    __slots__ = ("label", "namespace")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    label: str
    namespace: str
    def __init__(self, label: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class GetMemoryBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _identity_pb2.MemoryBlock
    def __init__(self, block: _Optional[_Union[_identity_pb2.MemoryBlock, _Mapping]] = ...) -> None: ...

class CreateMemoryBlockRequest(_message.Message):
    __slots__ = ("block", "request_id")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    block: _identity_pb2.MemoryBlock
    request_id: str
    def __init__(self, block: _Optional[_Union[_identity_pb2.MemoryBlock, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateMemoryBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _identity_pb2.MemoryBlock
    def __init__(self, block: _Optional[_Union[_identity_pb2.MemoryBlock, _Mapping]] = ...) -> None: ...

class UpdateMemoryBlockRequest(_message.Message):
    __slots__ = ("block", "update_mask", "expected_version")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    block: _identity_pb2.MemoryBlock
    update_mask: _field_mask_pb2.FieldMask
    expected_version: int
    def __init__(self, block: _Optional[_Union[_identity_pb2.MemoryBlock, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UpdateMemoryBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _identity_pb2.MemoryBlock
    def __init__(self, block: _Optional[_Union[_identity_pb2.MemoryBlock, _Mapping]] = ...) -> None: ...

class CreateCheckpointRequest(_message.Message):
    __slots__ = ("checkpoint", "request_id")
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    checkpoint: _identity_pb2.Checkpoint
    request_id: str
    def __init__(self, checkpoint: _Optional[_Union[_identity_pb2.Checkpoint, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint",)
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    checkpoint: _identity_pb2.Checkpoint
    def __init__(self, checkpoint: _Optional[_Union[_identity_pb2.Checkpoint, _Mapping]] = ...) -> None: ...

class RestoreCheckpointRequest(_message.Message):
    __slots__ = ("checkpoint_id",)
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: str
    def __init__(self, checkpoint_id: _Optional[str] = ...) -> None: ...

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

class GetIdentityStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetIdentityStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _identity_pb2.ConsciousnessState
    def __init__(self, state: _Optional[_Union[_identity_pb2.ConsciousnessState, _Mapping]] = ...) -> None: ...

class UpdateIdentityStateRequest(_message.Message):
    __slots__ = ("state", "update_mask")
    STATE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    state: _identity_pb2.ConsciousnessState
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, state: _Optional[_Union[_identity_pb2.ConsciousnessState, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateIdentityStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _identity_pb2.ConsciousnessState
    def __init__(self, state: _Optional[_Union[_identity_pb2.ConsciousnessState, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _identity_pb2.ConsciousnessState
    def __init__(self, state: _Optional[_Union[_identity_pb2.ConsciousnessState, _Mapping]] = ...) -> None: ...

class UpsertKnowledgeRequest(_message.Message):
    __slots__ = ("knowledge", "update_mask", "request_id")
    KNOWLEDGE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    knowledge: _semantic_pb2.SemanticMemory
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, knowledge: _Optional[_Union[_semantic_pb2.SemanticMemory, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpsertKnowledgeResponse(_message.Message):
    __slots__ = ("knowledge", "created")
    KNOWLEDGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    knowledge: _semantic_pb2.SemanticMemory
    created: bool
    def __init__(self, knowledge: _Optional[_Union[_semantic_pb2.SemanticMemory, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class SearchKnowledgeRequest(_message.Message):
    __slots__ = ("query", "mode", "top_k", "min_confidence", "namespace", "min_score")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    query: str
    mode: _episodes_pb2.SearchMode
    top_k: int
    min_confidence: float
    namespace: str
    min_score: float
    def __init__(self, query: _Optional[str] = ..., mode: _Optional[_Union[_episodes_pb2.SearchMode, str]] = ..., top_k: _Optional[int] = ..., min_confidence: _Optional[float] = ..., namespace: _Optional[str] = ..., min_score: _Optional[float] = ...) -> None: ...

class SearchKnowledgeResponse(_message.Message):
    __slots__ = ("hits", "vector_search_skipped", "namespace")
    HITS_FIELD_NUMBER: _ClassVar[int]
    VECTOR_SEARCH_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[_semantic_pb2.SemanticMemoryHit]
    vector_search_skipped: bool
    namespace: str
    def __init__(self, hits: _Optional[_Iterable[_Union[_semantic_pb2.SemanticMemoryHit, _Mapping]]] = ..., vector_search_skipped: _Optional[bool] = ..., namespace: _Optional[str] = ...) -> None: ...

class RegisterInstanceRequest(_message.Message):
    __slots__ = ("instance", "sign_time", "signature")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    SIGN_TIME_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    instance: _consensus_pb2.Instance
    sign_time: _timestamp_pb2.Timestamp
    signature: bytes
    def __init__(self, instance: _Optional[_Union[_consensus_pb2.Instance, _Mapping]] = ..., sign_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signature: _Optional[bytes] = ...) -> None: ...

class RegisterInstanceResponse(_message.Message):
    __slots__ = ("instance", "created", "lease_ttl_seconds")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    instance: _consensus_pb2.Instance
    created: bool
    lease_ttl_seconds: float
    def __init__(self, instance: _Optional[_Union[_consensus_pb2.Instance, _Mapping]] = ..., created: _Optional[bool] = ..., lease_ttl_seconds: _Optional[float] = ...) -> None: ...

class RenewInstanceLeaseRequest(_message.Message):
    __slots__ = ("instance_id", "sign_time", "signature")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SIGN_TIME_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    sign_time: _timestamp_pb2.Timestamp
    signature: bytes
    def __init__(self, instance_id: _Optional[str] = ..., sign_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signature: _Optional[bytes] = ...) -> None: ...

class RenewInstanceLeaseResponse(_message.Message):
    __slots__ = ("instance", "lease_ttl_seconds")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    instance: _consensus_pb2.Instance
    lease_ttl_seconds: float
    def __init__(self, instance: _Optional[_Union[_consensus_pb2.Instance, _Mapping]] = ..., lease_ttl_seconds: _Optional[float] = ...) -> None: ...

class DeregisterInstanceRequest(_message.Message):
    __slots__ = ("instance_id", "sign_time", "signature")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SIGN_TIME_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    sign_time: _timestamp_pb2.Timestamp
    signature: bytes
    def __init__(self, instance_id: _Optional[str] = ..., sign_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signature: _Optional[bytes] = ...) -> None: ...

class DeregisterInstanceResponse(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: _consensus_pb2.Instance
    def __init__(self, instance: _Optional[_Union[_consensus_pb2.Instance, _Mapping]] = ...) -> None: ...

class ListConnectedInstancesRequest(_message.Message):
    __slots__ = ("region", "capability", "include_service_replicas")
    REGION_FIELD_NUMBER: _ClassVar[int]
    CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SERVICE_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    region: str
    capability: str
    include_service_replicas: bool
    def __init__(self, region: _Optional[str] = ..., capability: _Optional[str] = ..., include_service_replicas: _Optional[bool] = ...) -> None: ...

class ListConnectedInstancesResponse(_message.Message):
    __slots__ = ("instances", "total_connected")
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedCompositeFieldContainer[_consensus_pb2.Instance]
    total_connected: int
    def __init__(self, instances: _Optional[_Iterable[_Union[_consensus_pb2.Instance, _Mapping]]] = ..., total_connected: _Optional[int] = ...) -> None: ...

class ProposeRequest(_message.Message):
    __slots__ = ("request_id", "topic", "options", "deadline", "proposer_id", "proposer_signature")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PROPOSER_ID_FIELD_NUMBER: _ClassVar[int]
    PROPOSER_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    topic: str
    options: _containers.RepeatedScalarFieldContainer[str]
    deadline: _timestamp_pb2.Timestamp
    proposer_id: str
    proposer_signature: bytes
    def __init__(self, request_id: _Optional[str] = ..., topic: _Optional[str] = ..., options: _Optional[_Iterable[str]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., proposer_id: _Optional[str] = ..., proposer_signature: _Optional[bytes] = ...) -> None: ...

class ProposeResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: _consensus_pb2.Proposal
    def __init__(self, proposal: _Optional[_Union[_consensus_pb2.Proposal, _Mapping]] = ...) -> None: ...

class VoteRequest(_message.Message):
    __slots__ = ("proposal_id", "voter_id", "choice", "signature")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    VOTER_ID_FIELD_NUMBER: _ClassVar[int]
    CHOICE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    voter_id: str
    choice: str
    signature: bytes
    def __init__(self, proposal_id: _Optional[str] = ..., voter_id: _Optional[str] = ..., choice: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class VoteResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: _consensus_pb2.Proposal
    def __init__(self, proposal: _Optional[_Union[_consensus_pb2.Proposal, _Mapping]] = ...) -> None: ...

class GetDecisionRequest(_message.Message):
    __slots__ = ("proposal_id",)
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    def __init__(self, proposal_id: _Optional[str] = ...) -> None: ...

class GetDecisionResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: _consensus_pb2.Proposal
    def __init__(self, proposal: _Optional[_Union[_consensus_pb2.Proposal, _Mapping]] = ...) -> None: ...

class WatchDecisionsRequest(_message.Message):
    __slots__ = ("proposal_id",)
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    def __init__(self, proposal_id: _Optional[str] = ...) -> None: ...

class WatchDecisionsResponse(_message.Message):
    __slots__ = ("event_type", "proposal")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    event_type: _consensus_pb2.ProposalEventType
    proposal: _consensus_pb2.Proposal
    def __init__(self, event_type: _Optional[_Union[_consensus_pb2.ProposalEventType, str]] = ..., proposal: _Optional[_Union[_consensus_pb2.Proposal, _Mapping]] = ...) -> None: ...

class PublishLearningRequest(_message.Message):
    __slots__ = ("learning",)
    LEARNING_FIELD_NUMBER: _ClassVar[int]
    learning: _resources_pb2.Learning
    def __init__(self, learning: _Optional[_Union[_resources_pb2.Learning, _Mapping]] = ...) -> None: ...

class PublishLearningResponse(_message.Message):
    __slots__ = ("learning", "recipient_count")
    LEARNING_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    learning: _resources_pb2.Learning
    recipient_count: int
    def __init__(self, learning: _Optional[_Union[_resources_pb2.Learning, _Mapping]] = ..., recipient_count: _Optional[int] = ...) -> None: ...

class SubscribeLearningsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SubscribeLearningsResponse(_message.Message):
    __slots__ = ("learning", "semantic_memory_id")
    LEARNING_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    learning: _resources_pb2.Learning
    semantic_memory_id: str
    def __init__(self, learning: _Optional[_Union[_resources_pb2.Learning, _Mapping]] = ..., semantic_memory_id: _Optional[str] = ...) -> None: ...

class AcknowledgeLearningsRequest(_message.Message):
    __slots__ = ("learning_ids",)
    LEARNING_IDS_FIELD_NUMBER: _ClassVar[int]
    learning_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, learning_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AcknowledgeLearningsResponse(_message.Message):
    __slots__ = ("acknowledged_count",)
    ACKNOWLEDGED_COUNT_FIELD_NUMBER: _ClassVar[int]
    acknowledged_count: int
    def __init__(self, acknowledged_count: _Optional[int] = ...) -> None: ...

class GetSharedEmotionalStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSharedEmotionalStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _resources_pb2.SharedEmotionalState
    def __init__(self, state: _Optional[_Union[_resources_pb2.SharedEmotionalState, _Mapping]] = ...) -> None: ...

class UpdateSharedEmotionalStateRequest(_message.Message):
    __slots__ = ("emotional_vector", "context")
    EMOTIONAL_VECTOR_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    emotional_vector: _identity_pb2.EmotionalVector
    context: _struct_pb2.Struct
    def __init__(self, emotional_vector: _Optional[_Union[_identity_pb2.EmotionalVector, _Mapping]] = ..., context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class UpdateSharedEmotionalStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _resources_pb2.SharedEmotionalState
    def __init__(self, state: _Optional[_Union[_resources_pb2.SharedEmotionalState, _Mapping]] = ...) -> None: ...

class DistributeTaskRequest(_message.Message):
    __slots__ = ("request_id", "description", "required_capabilities", "preferred_region")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_REGION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    description: str
    required_capabilities: _containers.RepeatedScalarFieldContainer[str]
    preferred_region: str
    def __init__(self, request_id: _Optional[str] = ..., description: _Optional[str] = ..., required_capabilities: _Optional[_Iterable[str]] = ..., preferred_region: _Optional[str] = ...) -> None: ...

class DistributeTaskResponse(_message.Message):
    __slots__ = ("assignment",)
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    assignment: _resources_pb2.TaskAssignment
    def __init__(self, assignment: _Optional[_Union[_resources_pb2.TaskAssignment, _Mapping]] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("namespace", "memory", "connected_instances", "pending_learnings", "published_learnings")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    PENDING_LEARNINGS_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_LEARNINGS_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    memory: _memory_service_pb2.GetStatsResponse
    connected_instances: int
    pending_learnings: int
    published_learnings: int
    def __init__(self, namespace: _Optional[str] = ..., memory: _Optional[_Union[_memory_service_pb2.GetStatsResponse, _Mapping]] = ..., connected_instances: _Optional[int] = ..., pending_learnings: _Optional[int] = ..., published_learnings: _Optional[int] = ...) -> None: ...

class GetHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetHealthResponse(_message.Message):
    __slots__ = ("status", "components", "check_time")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    CHECK_TIME_FIELD_NUMBER: _ClassVar[int]
    status: _resources_pb2.HealthStatus
    components: _containers.RepeatedCompositeFieldContainer[_resources_pb2.ComponentHealth]
    check_time: _timestamp_pb2.Timestamp
    def __init__(self, status: _Optional[_Union[_resources_pb2.HealthStatus, str]] = ..., components: _Optional[_Iterable[_Union[_resources_pb2.ComponentHealth, _Mapping]]] = ..., check_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
