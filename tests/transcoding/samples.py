"""Messages with every field set, so that a response exercises every part of its JSON form and schema."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import any_pb2, duration_pb2, field_mask_pb2, struct_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from cerebro.transcoding.fields import is_map, message_class

MAX_DEPTH = 6

_SCALARS: dict[int, object] = {
    FieldDescriptor.TYPE_STRING: "sample text é",
    FieldDescriptor.TYPE_BYTES: b"\x00\xffbytes",
    FieldDescriptor.TYPE_BOOL: True,
    FieldDescriptor.TYPE_INT32: -7,
    FieldDescriptor.TYPE_SINT32: -8,
    FieldDescriptor.TYPE_SFIXED32: -9,
    FieldDescriptor.TYPE_UINT32: 7,
    FieldDescriptor.TYPE_FIXED32: 8,
    FieldDescriptor.TYPE_INT64: -(2**40),
    FieldDescriptor.TYPE_SINT64: -(2**41),
    FieldDescriptor.TYPE_SFIXED64: -(2**42),
    FieldDescriptor.TYPE_UINT64: 2**63,
    FieldDescriptor.TYPE_FIXED64: 2**62,
    FieldDescriptor.TYPE_DOUBLE: 0.25,
    FieldDescriptor.TYPE_FLOAT: 0.5,
}


def filled(descriptor: Descriptor, depth: int = 0) -> Message:
    """A ``descriptor`` message with every field set (two elements per list), down to MAX_DEPTH."""
    message = message_class(descriptor)()
    special = _special(descriptor.full_name)
    if special is not None:
        message.CopyFrom(special)
        return message
    if depth >= MAX_DEPTH:
        return message
    for field in descriptor.fields:
        if is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            key = _SCALARS[field.message_type.fields_by_name["key"].type]
            target = getattr(message, field.name)
            if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                target[key].CopyFrom(filled(value_field.message_type, depth + 1))
            else:
                target[key] = _scalar(value_field)
        elif field.is_repeated:
            for _ in range(2):
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    getattr(message, field.name).add().CopyFrom(filled(field.message_type, depth + 1))
                else:
                    getattr(message, field.name).append(_scalar(field))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(message, field.name).CopyFrom(filled(field.message_type, depth + 1))
        else:
            setattr(message, field.name, _scalar(field))
    return message


def _scalar(field: FieldDescriptor) -> object:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values[-1].number
    return _SCALARS[field.type]


def _special(full_name: str) -> Message | None:
    if full_name == "google.protobuf.Timestamp":
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(datetime(2026, 1, 31, 12, 30, 15, 250000, tzinfo=UTC))
        return stamp
    if full_name == "google.protobuf.Duration":
        return duration_pb2.Duration(seconds=1, nanos=500_000_000)
    if full_name == "google.protobuf.FieldMask":
        return field_mask_pb2.FieldMask(paths=["char_limit", "value"])
    if full_name == "google.protobuf.Struct":
        struct = struct_pb2.Struct()
        struct.update({"mood": "calm", "n": 2, "flags": [True, None, {"deep": "x"}]})
        return struct
    if full_name == "google.protobuf.Value":
        return struct_pb2.Value(string_value="any")
    if full_name == "google.protobuf.ListValue":
        values = struct_pb2.ListValue()
        values.extend([1, "two"])
        return values
    if full_name == "google.protobuf.Any":
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.ErrorInfo(reason="SAMPLE", domain="cerebro"))
        return packed
    return None
