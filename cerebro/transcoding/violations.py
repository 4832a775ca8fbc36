"""Where a JSON document does not fit a message's proto3 JSON form, as BadRequest field violations.

``json_format.ParseDict`` decides what is accepted; its errors, though, name the failing field only
sometimes and never its index in a list. When it refuses a document, :func:`find_violations` walks
the document beside the descriptor and asks ``json_format`` about one field at a time, so that every
bad field is reported with its full path (``filter.tags[1]``) and the form it should have had.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from cerebro.runtime.errors import FieldViolation
from cerebro.runtime.safe_values import MAX_JSON_DEPTH, TOO_DEEP
from cerebro.transcoding.fields import (
    ANY,
    DURATION,
    FIELD_MASK,
    FLOAT_TYPES,
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
    find_field,
    is_map,
    is_plain_message,
    message_class,
    message_type,
)

_PREVIEW_CHARS = 40
_LISTED_ENUM_VALUES = 12

_MESSAGE_FORMS = {
    TIMESTAMP: 'an RFC 3339 date-time string with a time zone, e.g. "2026-01-31T12:00:00Z"',
    DURATION: 'a duration string in seconds with an "s" suffix, e.g. "1.5s"',
    FIELD_MASK: 'a string of comma-separated field paths, e.g. "value,description"',
    STRUCT: "a JSON object",
    VALUE: "any JSON value",
    LIST_VALUE: "a JSON array",
    ANY: 'a JSON object with an "@type"',
}


def parse_problem(descriptor: Descriptor, document: dict[str, Any]) -> str | None:
    """json_format's complaint about ``document`` as a ``descriptor`` message, or None when it parses."""
    try:
        json_format.ParseDict(document, message_class(descriptor)(), ignore_unknown_fields=False)
    except json_format.ParseError as error:
        return str(error).splitlines()[0]
    return None


def find_violations(descriptor: Descriptor, document: object, path: str = "") -> list[FieldViolation]:
    """Every field of ``document`` that does not fit ``descriptor``, by its path in proto field names."""
    if not isinstance(document, dict):
        return [(path, f"must be a JSON object ({descriptor.full_name}){_got(document)}")]
    violations: list[FieldViolation] = []
    for key, value in document.items():
        field = find_field(descriptor, key)
        field_path = _join(path, field.name if field else key)
        if field is None:
            violations.append((field_path, f"unknown field: {descriptor.full_name} has no field {key!r}"))
            continue
        problem = parse_problem(descriptor, {key: value})
        if problem is not None:
            violations += _field_violations(descriptor, field, key, value, field_path, problem)
    return violations


def _field_violations(
    parent: Descriptor, field: FieldDescriptor, key: str, value: object, path: str, problem: str
) -> list[FieldViolation]:
    if is_map(field):
        value_field = message_type(field).fields_by_name["value"]
        if isinstance(value, dict) and is_plain_message(value_field):
            nested = [
                violation
                for entry_key, entry in value.items()
                for violation in find_violations(message_type(value_field), entry, f"{path}[{entry_key}]")
            ]
            if nested:
                return nested
        return [(path, f"must be {expected_form(field)}{_got(value)}")]
    if field.is_repeated:
        if not isinstance(value, list):
            return [(path, f"must be {expected_form(field)}{_got(value)}")]
        nested = []
        for index, element in enumerate(value):
            if parse_problem(parent, {key: [element]}) is None:
                continue
            element_path = f"{path}[{index}]"
            if is_plain_message(field) and isinstance(element, dict):
                nested += find_violations(message_type(field), element, element_path)
            else:
                nested.append((element_path, f"must be {element_form(field)}{_got(element)}"))
        return nested or [(path, problem)]
    if is_plain_message(field) and isinstance(value, dict):
        return find_violations(message_type(field), value, path) or [(path, problem)]
    return [(path, f"must be {expected_form(field)}{_got(value)}")]


def bad_value(field: FieldDescriptor, value: object) -> str:
    """The description of a violation: the form ``field`` needs, and what was sent."""
    return f"must be {expected_form(field)}{_got(value)}"


def expected_form(field: FieldDescriptor) -> str:
    """What a value of ``field`` looks like in proto3 JSON, for people."""
    if is_map(field):
        return f"a JSON object whose values are each {element_form(message_type(field).fields_by_name['value'])}"
    if field.is_repeated:
        return f"a JSON array whose elements are each {element_form(field)}"
    return element_form(field)


def element_form(field: FieldDescriptor) -> str:
    """The form of one value of ``field`` (one element when it is repeated)."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        name = message_type(field).full_name
        if name in WRAPPERS:
            return element_form(message_type(field).fields_by_name["value"])
        return _MESSAGE_FORMS.get(name, f"a JSON object ({name})")
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum_form(enum_type(field))
    if field.type == FieldDescriptor.TYPE_STRING:
        return "a string"
    if field.type == FieldDescriptor.TYPE_BYTES:
        return "a base64 string"
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true or false"
    if field.type in INT32_TYPES:
        return "an integer (int32)"
    if field.type in UINT32_TYPES:
        return "a non-negative integer (uint32)"
    if field.type in INT64_TYPES:
        return 'an integer (int64), written as a decimal string such as "42"'
    if field.type in UINT64_TYPES:
        return 'a non-negative integer (uint64), written as a decimal string such as "42"'
    if field.type in FLOAT_TYPES:
        return 'a number (or "NaN", "Infinity", "-Infinity")'
    raise AssertionError(f"unhandled field type {field.type} of {field.full_name}")


def _enum_form(enum: EnumDescriptor) -> str:
    names = [value.name for value in enum.values]
    listed = ", ".join(names[:_LISTED_ENUM_VALUES]) + (", ..." if len(names) > _LISTED_ENUM_VALUES else "")
    return f"one of {listed} ({enum.full_name})"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _got(value: object) -> str:
    # ASCII: the value may hold lone surrogates (from "\ud800" escapes) that UTF-8 cannot carry.
    text = json.dumps(value)
    if len(text) > _PREVIEW_CHARS:
        text = text[: _PREVIEW_CHARS - 3] + "..."
    return f"; got {text}"


def nesting_violations(descriptor: Descriptor, document: object, path: str = "") -> list[FieldViolation]:
    """Struct, Value and ListValue fields of ``document`` nested past the limit every service keeps.

    Checked on the JSON before json_format parses it: json_format stops at 100 levels with a message
    that names no field, and a message between the two limits would only be refused by the gRPC server
    without a field name, as one it cannot decode.
    """
    if not isinstance(document, dict):
        return []
    violations: list[FieldViolation] = []
    for key, value in document.items():
        field = find_field(descriptor, key)
        if field is None or field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        field_path = _join(path, field.name)
        if is_map(field):
            value_field = message_type(field).fields_by_name["value"]
            items = value.items() if isinstance(value, dict) else ()
            for entry_key, entry in items:
                violations += _nested(value_field, entry, f"{field_path}[{entry_key}]")
        elif field.is_repeated and isinstance(value, list):
            for index, element in enumerate(value):
                violations += _nested(field, element, f"{field_path}[{index}]")
        else:
            violations += _nested(field, value, field_path)
    return violations


def _nested(field: FieldDescriptor, value: object, path: str) -> list[FieldViolation]:
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return []
    if message_type(field).full_name in {STRUCT, VALUE, LIST_VALUE}:
        return [(path, TOO_DEEP)] if _json_depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH else []
    if is_plain_message(field):
        return nesting_violations(message_type(field), value, path)
    return []


def _json_depth(value: object, limit: int) -> int:
    """Levels of JSON objects and arrays in ``value``, counted level by level up to ``limit`` + 1."""
    depth, level = 0, [value]
    while depth <= limit:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            break
        depth += 1
        level = [child for item in containers for child in (item.values() if isinstance(item, dict) else item)]
    return depth
