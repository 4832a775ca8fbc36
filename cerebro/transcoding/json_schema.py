"""JSON Schemas (draft 2020-12, as in OpenAPI 3.1) of messages in protobuf's canonical JSON mapping.

The schemas describe the canonical form, the one responses use: lowerCamelCase names, 64-bit integers
as decimal strings, enums by name, Timestamps as RFC 3339 strings, Durations as ``"1.5s"``, Structs
as objects, bytes as base64. Requests may also use what proto3 JSON accepts besides (proto field
names, numbers for 64-bit integers, strings for 32-bit ones). Unknown properties are refused.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from cerebro.transcoding.fields import (
    ANY,
    DURATION,
    FIELD_MASK,
    INT32_TYPES,
    INT64_TYPES,
    LIST_VALUE,
    STRUCT,
    TIMESTAMP,
    UINT32_TYPES,
    UINT64_TYPES,
    VALUE,
    WRAPPERS,
    enum_type,
    is_map,
    message_type,
)

Schema = dict[str, Any]

REF_PREFIX = "#/components/schemas/"
_FLOAT_MAX = 3.4028234663852886e38
_SPECIAL_NUMBERS: Schema = {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}

_MESSAGE_SCHEMAS: dict[str, Schema] = {
    TIMESTAMP: {"type": "string", "format": "date-time"},
    DURATION: {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
    FIELD_MASK: {"type": "string", "description": "Comma-separated field paths in lowerCamelCase."},
    STRUCT: {"type": "object"},
    VALUE: {},
    LIST_VALUE: {"type": "array"},
    ANY: {"type": "object", "properties": {"@type": {"type": "string"}}, "required": ["@type"]},
}


class SchemaCollector:
    """Component schemas of the messages and enums met so far; fields refer to them with ``$ref``."""

    def __init__(self) -> None:
        self.components: dict[str, Schema] = {}

    def message_ref(self, descriptor: Descriptor) -> Schema:
        name = descriptor.full_name
        if name in _MESSAGE_SCHEMAS:
            return dict(_MESSAGE_SCHEMAS[name])
        if name not in self.components:
            self.components[name] = {}  # placed first, so that recursive messages end
            self.components[name] = self.object_schema(descriptor)
        return {"$ref": REF_PREFIX + name}

    def object_schema(self, descriptor: Descriptor, omit: frozenset[str] = frozenset()) -> Schema:
        """The schema of ``descriptor`` as a JSON object, without the fields named in ``omit``."""
        return {
            "type": "object",
            "title": descriptor.full_name,
            "properties": {
                field.json_name: self.field_schema(field) for field in descriptor.fields if field.name not in omit
            },
            "additionalProperties": False,
        }

    def field_schema(self, field: FieldDescriptor) -> Schema:
        if is_map(field):
            entry = message_type(field)
            return {
                "type": "object",
                "propertyNames": _map_key_schema(entry.fields_by_name["key"]),
                "additionalProperties": self.value_schema(entry.fields_by_name["value"]),
            }
        if field.is_repeated:
            return {"type": "array", "items": self.value_schema(field)}
        return self.value_schema(field)

    def value_schema(self, field: FieldDescriptor) -> Schema:
        """The schema of one value of ``field`` (one element when it is repeated)."""
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if message_type(field).full_name in WRAPPERS:
                return self.value_schema(message_type(field).fields_by_name["value"])
            return self.message_ref(message_type(field))
        if field.type == FieldDescriptor.TYPE_ENUM:
            return self._enum_ref(enum_type(field))
        return scalar_schema(field)

    def _enum_ref(self, enum: EnumDescriptor) -> Schema:
        if enum.full_name not in self.components:
            self.components[enum.full_name] = {
                "type": "string",
                "title": enum.full_name,
                "enum": [value.name for value in enum.values],
            }
        return {"$ref": REF_PREFIX + enum.full_name}


def scalar_schema(field: FieldDescriptor) -> Schema:
    if field.type == FieldDescriptor.TYPE_STRING:
        return {"type": "string"}
    if field.type == FieldDescriptor.TYPE_BYTES:
        return {"type": "string", "contentEncoding": "base64", "pattern": "^[A-Za-z0-9+/_-]*={0,2}$"}
    if field.type == FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    if field.type in INT32_TYPES:
        return {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
    if field.type in UINT32_TYPES:
        return {"type": "integer", "format": "uint32", "minimum": 0, "maximum": 2**32 - 1}
    if field.type in INT64_TYPES:
        return {"type": "string", "format": "int64", "pattern": "^-?[0-9]{1,19}$"}
    if field.type in UINT64_TYPES:
        return {"type": "string", "format": "uint64", "pattern": "^[0-9]{1,20}$"}
    if field.type == FieldDescriptor.TYPE_FLOAT:
        number = {"type": "number", "format": "float", "minimum": -_FLOAT_MAX, "maximum": _FLOAT_MAX}
        return {"oneOf": [number, _SPECIAL_NUMBERS]}
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        return {"oneOf": [{"type": "number", "format": "double"}, _SPECIAL_NUMBERS]}
    raise AssertionError(f"unhandled field type {field.type} of {field.full_name}")


def _map_key_schema(key: FieldDescriptor) -> Schema:
    if key.type == FieldDescriptor.TYPE_BOOL:
        return {"enum": ["true", "false"]}
    if key.type == FieldDescriptor.TYPE_STRING:
        return {"type": "string"}
    return {"type": "string", "pattern": "^-?[0-9]+$"}
