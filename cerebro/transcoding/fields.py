"""Protobuf fields as the transcoder sees them: finding them by name, and how each is written in JSON."""

from __future__ import annotations

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

TIMESTAMP = "google.protobuf.Timestamp"
DURATION = "google.protobuf.Duration"
FIELD_MASK = "google.protobuf.FieldMask"
STRUCT = "google.protobuf.Struct"
VALUE = "google.protobuf.Value"
LIST_VALUE = "google.protobuf.ListValue"
ANY = "google.protobuf.Any"
WRAPPERS = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
# Messages whose proto3 JSON form is a single string.
STRING_MESSAGES = frozenset({TIMESTAMP, DURATION, FIELD_MASK})
# Messages with a JSON form of their own (everything else is an object of its fields).
SPECIAL_MESSAGES = STRING_MESSAGES | WRAPPERS | {STRUCT, VALUE, LIST_VALUE, ANY}

INT32_TYPES = frozenset({FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32})
UINT32_TYPES = frozenset({FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32})
INT64_TYPES = frozenset({FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64})
UINT64_TYPES = frozenset({FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64})
FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})


class FieldPathError(ValueError):
    """A dotted field path that names no field, or passes through something that is not a message."""


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def message_type(field: FieldDescriptor) -> Descriptor:
    """The type of a message field (of a map field: its entry type)."""
    if field.message_type is None:
        raise TypeError(f"{field.full_name} is not a message field")
    return field.message_type


def enum_type(field: FieldDescriptor) -> EnumDescriptor:
    if field.enum_type is None:
        raise TypeError(f"{field.full_name} is not an enum field")
    return field.enum_type


def containing_type(field: FieldDescriptor) -> Descriptor:
    """The message ``field`` belongs to (every field of a message descriptor has one)."""
    if field.containing_type is None:
        raise TypeError(f"{field.full_name} is an extension outside any message")
    return field.containing_type


def is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and message_type(field).GetOptions().map_entry


def is_plain_message(field: FieldDescriptor) -> bool:
    """A message written as a JSON object of its own fields (not a map, not a well-known special)."""
    return (
        field.type == FieldDescriptor.TYPE_MESSAGE
        and not is_map(field)
        and message_type(field).full_name not in SPECIAL_MESSAGES
    )


def is_single_valued(field: FieldDescriptor) -> bool:
    """A field whose JSON value (or each element's) can be written as one string: a URL path or query value."""
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return True
    return message_type(field).full_name in STRING_MESSAGES | WRAPPERS


def is_bool(field: FieldDescriptor) -> bool:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_type(field).full_name == "google.protobuf.BoolValue"
    return field.type == FieldDescriptor.TYPE_BOOL


def find_field(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    """The field called ``name`` in JSON (lowerCamelCase) or in the proto file (snake_case)."""
    for field in descriptor.fields:
        if name in (field.json_name, field.name):
            return field
    return None


def resolve_path(descriptor: Descriptor, dotted: str) -> tuple[FieldDescriptor, ...]:
    """The fields along ``a.b.c``; every step before the last must be a singular plain message."""
    fields: list[FieldDescriptor] = []
    current = descriptor
    names = dotted.split(".")
    for index, name in enumerate(names):
        field = find_field(current, name)
        if field is None:
            where = ".".join(f.name for f in fields) or current.name
            raise FieldPathError(f"{where} has no field {name!r}")
        fields.append(field)
        if index < len(names) - 1:
            if field.is_repeated or not is_plain_message(field):
                raise FieldPathError(f"{proto_path(fields)} has no fields to select")
            current = message_type(field)
    return tuple(fields)


def proto_path(fields: tuple[FieldDescriptor, ...] | list[FieldDescriptor]) -> str:
    """The path in proto field names, as BadRequest field violations name fields (e.g. ``block.char_limit``)."""
    return ".".join(field.name for field in fields)
