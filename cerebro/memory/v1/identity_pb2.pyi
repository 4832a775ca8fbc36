import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MemoryBlock(_message.Message):
    __slots__ = ("block_id", "namespace", "label", "description", "value", "char_limit", "read_only", "version", "create_time", "update_time")
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CHAR_LIMIT_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    block_id: str
    namespace: str
    label: str
    description: str
    value: str
    char_limit: int
    read_only: bool
    version: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, block_id: _Optional[str] = ..., namespace: _Optional[str] = ..., label: _Optional[str] = ..., description: _Optional[str] = ..., value: _Optional[str] = ..., char_limit: _Optional[int] = ..., read_only: _Optional[bool] = ..., version: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MemoryBlockRevision(_message.Message):
    __slots__ = ("block_id", "version", "description", "value", "char_limit", "create_time")
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CHAR_LIMIT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    block_id: str
    version: int
    description: str
    value: str
    char_limit: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, block_id: _Optional[str] = ..., version: _Optional[int] = ..., description: _Optional[str] = ..., value: _Optional[str] = ..., char_limit: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("checkpoint_id", "namespace", "checkpoint_type", "state_data", "identity_hash", "block_count", "metadata", "create_time")
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_DATA_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_COUNT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: str
    namespace: str
    checkpoint_type: str
    state_data: _struct_pb2.Struct
    identity_hash: str
    block_count: int
    metadata: _struct_pb2.Struct
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, checkpoint_id: _Optional[str] = ..., namespace: _Optional[str] = ..., checkpoint_type: _Optional[str] = ..., state_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., identity_hash: _Optional[str] = ..., block_count: _Optional[int] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConsciousnessState(_message.Message):
    __slots__ = ("namespace", "current_focus", "emotional_vector", "working_context", "active_projects", "metadata", "last_heartbeat_time", "update_time", "version")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FOCUS_FIELD_NUMBER: _ClassVar[int]
    EMOTIONAL_VECTOR_FIELD_NUMBER: _ClassVar[int]
    WORKING_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    current_focus: str
    emotional_vector: EmotionalVector
    working_context: _struct_pb2.Struct
    active_projects: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    last_heartbeat_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    version: int
    def __init__(self, namespace: _Optional[str] = ..., current_focus: _Optional[str] = ..., emotional_vector: _Optional[_Union[EmotionalVector, _Mapping]] = ..., working_context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., active_projects: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., last_heartbeat_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class EmotionalVector(_message.Message):
    __slots__ = ("focus", "energy", "excitement")
    FOCUS_FIELD_NUMBER: _ClassVar[int]
    ENERGY_FIELD_NUMBER: _ClassVar[int]
    EXCITEMENT_FIELD_NUMBER: _ClassVar[int]
    focus: float
    energy: float
    excitement: float
    def __init__(self, focus: _Optional[float] = ..., energy: _Optional[float] = ..., excitement: _Optional[float] = ...) -> None: ...
