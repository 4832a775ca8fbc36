import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmbeddingState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMBEDDING_STATE_UNSPECIFIED: _ClassVar[EmbeddingState]
    EMBEDDING_STATE_PENDING: _ClassVar[EmbeddingState]
    EMBEDDING_STATE_EMBEDDED: _ClassVar[EmbeddingState]
    EMBEDDING_STATE_FAILED: _ClassVar[EmbeddingState]

class EpisodeView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EPISODE_VIEW_UNSPECIFIED: _ClassVar[EpisodeView]
    EPISODE_VIEW_BASIC: _ClassVar[EpisodeView]
    EPISODE_VIEW_FULL: _ClassVar[EpisodeView]

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_UNSPECIFIED: _ClassVar[SearchMode]
    SEARCH_MODE_TEXT: _ClassVar[SearchMode]
    SEARCH_MODE_VECTOR: _ClassVar[SearchMode]
    SEARCH_MODE_HYBRID: _ClassVar[SearchMode]
EMBEDDING_STATE_UNSPECIFIED: EmbeddingState
EMBEDDING_STATE_PENDING: EmbeddingState
EMBEDDING_STATE_EMBEDDED: EmbeddingState
EMBEDDING_STATE_FAILED: EmbeddingState
EPISODE_VIEW_UNSPECIFIED: EpisodeView
EPISODE_VIEW_BASIC: EpisodeView
EPISODE_VIEW_FULL: EpisodeView
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_TEXT: SearchMode
SEARCH_MODE_VECTOR: SearchMode
SEARCH_MODE_HYBRID: SearchMode

class Episode(_message.Message):
    __slots__ = ("episode_id", "namespace", "content", "importance", "tags", "metadata", "project_id", "occur_time", "create_time", "update_time", "embedding_state", "embedding_version", "embedding")
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_STATE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_VERSION_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    namespace: str
    content: str
    importance: float
    tags: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    project_id: str
    occur_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    embedding_state: EmbeddingState
    embedding_version: str
    embedding: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, episode_id: _Optional[str] = ..., namespace: _Optional[str] = ..., content: _Optional[str] = ..., importance: _Optional[float] = ..., tags: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., project_id: _Optional[str] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., embedding_state: _Optional[_Union[EmbeddingState, str]] = ..., embedding_version: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ...) -> None: ...

class EpisodeFilter(_message.Message):
    __slots__ = ("project_id", "tags", "start_time", "end_time", "min_importance")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    MIN_IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    min_importance: float
    def __init__(self, project_id: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., min_importance: _Optional[float] = ...) -> None: ...

class SearchWeighting(_message.Message):
    __slots__ = ("recency_weight", "recency_half_life", "importance_weight")
    RECENCY_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    RECENCY_HALF_LIFE_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    recency_weight: float
    recency_half_life: _duration_pb2.Duration
    importance_weight: float
    def __init__(self, recency_weight: _Optional[float] = ..., recency_half_life: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., importance_weight: _Optional[float] = ...) -> None: ...

class EpisodeHit(_message.Message):
    __slots__ = ("episode", "text_score", "text_rank", "vector_score", "vector_rank", "fused_score", "context")
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    TEXT_SCORE_FIELD_NUMBER: _ClassVar[int]
    TEXT_RANK_FIELD_NUMBER: _ClassVar[int]
    VECTOR_SCORE_FIELD_NUMBER: _ClassVar[int]
    VECTOR_RANK_FIELD_NUMBER: _ClassVar[int]
    FUSED_SCORE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    episode: Episode
    text_score: float
    text_rank: int
    vector_score: float
    vector_rank: int
    fused_score: float
    context: _containers.RepeatedCompositeFieldContainer[Episode]
    def __init__(self, episode: _Optional[_Union[Episode, _Mapping]] = ..., text_score: _Optional[float] = ..., text_rank: _Optional[int] = ..., vector_score: _Optional[float] = ..., vector_rank: _Optional[int] = ..., fused_score: _Optional[float] = ..., context: _Optional[_Iterable[_Union[Episode, _Mapping]]] = ...) -> None: ...
