import datetime

from cerebro.memory.v1 import episodes_pb2 as _episodes_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SemanticMemory(_message.Message):
    __slots__ = ("semantic_memory_id", "namespace", "concept", "definition", "relationships", "confidence", "source_episode_ids", "create_time", "update_time", "embedding_state", "embedding_version")
    SEMANTIC_MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CONCEPT_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_EPISODE_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_STATE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_VERSION_FIELD_NUMBER: _ClassVar[int]
    semantic_memory_id: str
    namespace: str
    concept: str
    definition: str
    relationships: _struct_pb2.Struct
    confidence: float
    source_episode_ids: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    embedding_state: _episodes_pb2.EmbeddingState
    embedding_version: str
    def __init__(self, semantic_memory_id: _Optional[str] = ..., namespace: _Optional[str] = ..., concept: _Optional[str] = ..., definition: _Optional[str] = ..., relationships: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., confidence: _Optional[float] = ..., source_episode_ids: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., embedding_state: _Optional[_Union[_episodes_pb2.EmbeddingState, str]] = ..., embedding_version: _Optional[str] = ...) -> None: ...

class SemanticMemoryHit(_message.Message):
    __slots__ = ("semantic_memory", "text_score", "text_rank", "vector_score", "vector_rank", "fused_score")
    SEMANTIC_MEMORY_FIELD_NUMBER: _ClassVar[int]
    TEXT_SCORE_FIELD_NUMBER: _ClassVar[int]
    TEXT_RANK_FIELD_NUMBER: _ClassVar[int]
    VECTOR_SCORE_FIELD_NUMBER: _ClassVar[int]
    VECTOR_RANK_FIELD_NUMBER: _ClassVar[int]
    FUSED_SCORE_FIELD_NUMBER: _ClassVar[int]
    semantic_memory: SemanticMemory
    text_score: float
    text_rank: int
    vector_score: float
    vector_rank: int
    fused_score: float
    def __init__(self, semantic_memory: _Optional[_Union[SemanticMemory, _Mapping]] = ..., text_score: _Optional[float] = ..., text_rank: _Optional[int] = ..., vector_score: _Optional[float] = ..., vector_rank: _Optional[int] = ..., fused_score: _Optional[float] = ...) -> None: ...
