import datetime

from cerebro.consensus.v1 import consensus_pb2 as _consensus_pb2
from cerebro.memory.v1 import identity_pb2 as _identity_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HealthStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEALTH_STATUS_UNSPECIFIED: _ClassVar[HealthStatus]
    HEALTH_STATUS_SERVING: _ClassVar[HealthStatus]
    HEALTH_STATUS_DEGRADED: _ClassVar[HealthStatus]
    HEALTH_STATUS_NOT_SERVING: _ClassVar[HealthStatus]
HEALTH_STATUS_UNSPECIFIED: HealthStatus
HEALTH_STATUS_SERVING: HealthStatus
HEALTH_STATUS_DEGRADED: HealthStatus
HEALTH_STATUS_NOT_SERVING: HealthStatus

class Learning(_message.Message):
    __slots__ = ("learning_id", "publisher", "concept", "definition", "relationships", "confidence", "publish_time")
    LEARNING_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLISHER_FIELD_NUMBER: _ClassVar[int]
    CONCEPT_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_TIME_FIELD_NUMBER: _ClassVar[int]
    learning_id: str
    publisher: str
    concept: str
    definition: str
    relationships: _struct_pb2.Struct
    confidence: float
    publish_time: _timestamp_pb2.Timestamp
    def __init__(self, learning_id: _Optional[str] = ..., publisher: _Optional[str] = ..., concept: _Optional[str] = ..., definition: _Optional[str] = ..., relationships: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., confidence: _Optional[float] = ..., publish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MemberEmotion(_message.Message):
    __slots__ = ("namespace", "emotional_vector", "context", "update_time")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    EMOTIONAL_VECTOR_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    emotional_vector: _identity_pb2.EmotionalVector
    context: _struct_pb2.Struct
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, namespace: _Optional[str] = ..., emotional_vector: _Optional[_Union[_identity_pb2.EmotionalVector, _Mapping]] = ..., context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SharedEmotionalState(_message.Message):
    __slots__ = ("members", "mean", "update_time")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[MemberEmotion]
    mean: _identity_pb2.EmotionalVector
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, members: _Optional[_Iterable[_Union[MemberEmotion, _Mapping]]] = ..., mean: _Optional[_Union[_identity_pb2.EmotionalVector, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TaskAssignment(_message.Message):
    __slots__ = ("task_id", "request_id", "description", "required_capabilities", "instance", "matched_capabilities", "missing_capabilities", "in_preferred_region", "load", "candidate_count", "reason", "assign_time")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    MATCHED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    MISSING_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    IN_PREFERRED_REGION_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_TIME_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    request_id: str
    description: str
    required_capabilities: _containers.RepeatedScalarFieldContainer[str]
    instance: _consensus_pb2.Instance
    matched_capabilities: _containers.RepeatedScalarFieldContainer[str]
    missing_capabilities: _containers.RepeatedScalarFieldContainer[str]
    in_preferred_region: bool
    load: int
    candidate_count: int
    reason: str
    assign_time: _timestamp_pb2.Timestamp
    def __init__(self, task_id: _Optional[str] = ..., request_id: _Optional[str] = ..., description: _Optional[str] = ..., required_capabilities: _Optional[_Iterable[str]] = ..., instance: _Optional[_Union[_consensus_pb2.Instance, _Mapping]] = ..., matched_capabilities: _Optional[_Iterable[str]] = ..., missing_capabilities: _Optional[_Iterable[str]] = ..., in_preferred_region: _Optional[bool] = ..., load: _Optional[int] = ..., candidate_count: _Optional[int] = ..., reason: _Optional[str] = ..., assign_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ComponentHealth(_message.Message):
    __slots__ = ("name", "status", "replicas", "serving_replicas", "message")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    SERVING_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: HealthStatus
    replicas: int
    serving_replicas: int
    message: str
    def __init__(self, name: _Optional[str] = ..., status: _Optional[_Union[HealthStatus, str]] = ..., replicas: _Optional[int] = ..., serving_replicas: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...
