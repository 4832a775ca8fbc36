import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkingMemoryPriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKING_MEMORY_PRIORITY_UNSPECIFIED: _ClassVar[WorkingMemoryPriority]
    WORKING_MEMORY_PRIORITY_CRITICAL: _ClassVar[WorkingMemoryPriority]
    WORKING_MEMORY_PRIORITY_HIGH: _ClassVar[WorkingMemoryPriority]
    WORKING_MEMORY_PRIORITY_NORMAL: _ClassVar[WorkingMemoryPriority]
    WORKING_MEMORY_PRIORITY_LOW: _ClassVar[WorkingMemoryPriority]
WORKING_MEMORY_PRIORITY_UNSPECIFIED: WorkingMemoryPriority
WORKING_MEMORY_PRIORITY_CRITICAL: WorkingMemoryPriority
WORKING_MEMORY_PRIORITY_HIGH: WorkingMemoryPriority
WORKING_MEMORY_PRIORITY_NORMAL: WorkingMemoryPriority
WORKING_MEMORY_PRIORITY_LOW: WorkingMemoryPriority

class WorkingMemoryItem(_message.Message):
    __slots__ = ("item_id", "namespace", "context_type", "content", "priority", "ttl", "expire_time", "create_time", "update_time", "version")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    namespace: str
    context_type: str
    content: _struct_pb2.Struct
    priority: WorkingMemoryPriority
    ttl: _duration_pb2.Duration
    expire_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    version: int
    def __init__(self, item_id: _Optional[str] = ..., namespace: _Optional[str] = ..., context_type: _Optional[str] = ..., content: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., priority: _Optional[_Union[WorkingMemoryPriority, str]] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...
