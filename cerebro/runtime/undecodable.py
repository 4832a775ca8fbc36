"""Which field of a message that does not decode is to blame, found by decoding it piece by piece.

The protobuf decoder refuses a whole message and says only why (corrupt bytes, text that is not
UTF-8, nesting past its limit). To name the field, the bytes are read as unknown fields of an empty
message (which needs no knowledge of the type), and each length-delimited field is then decoded as
its own type, descending into the one that fails. A part that decodes on its own is checked against
:mod:`cerebro.runtime.safe_values` instead: a Struct can decode alone and still be too deep for the
message around it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from google.protobuf import empty_pb2, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

from cerebro.runtime.errors import FieldViolation
from cerebro.runtime.safe_values import JSON_TYPES, MAX_JSON_DEPTH, TOO_DEEP, json_depth, unsafe_values

_LENGTH_DELIMITED = 2


def blamed_field(descriptor: Descriptor, data: bytes, prefix: str = "") -> FieldViolation | None:
    """The field of a ``descriptor`` message in ``data`` that keeps it from decoding, if one can be named."""
    try:
        fields = UnknownFieldSet(empty_pb2.Empty.FromString(data))
    except DecodeError:  # corrupt at this level: no field to name
        return None
    occurrences: dict[int, int] = {}
    # The stubs do not know UnknownFieldSet is iterable (it is, over its fields).
    for unknown in cast(Iterable[Any], fields):
        field = descriptor.fields_by_number.get(unknown.field_number)
        if field is None or unknown.wire_type != _LENGTH_DELIMITED:
            continue
        index = occurrences.get(field.number, 0)
        occurrences[field.number] = index + 1
        is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
        path = prefix + field.name + (f"[{index}]" if field.is_repeated and not is_map else "")
        found = _blame(field, unknown.data, path)
        if found is not None:
            return found
    return None


def _blame(field: FieldDescriptor, data: bytes, path: str) -> FieldViolation | None:
    if field.type == FieldDescriptor.TYPE_STRING:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return path, "is not valid UTF-8"
        return None
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return None
    message_type = field.message_type
    assert message_type is not None  # a message field
    try:
        part = message_factory.GetMessageClass(message_type).FromString(data)
    except DecodeError:
        if message_type.full_name in JSON_TYPES:
            return path, TOO_DEEP
        return blamed_field(message_type, data, path + ".") or (path, "cannot be decoded")
    if message_type.full_name in JSON_TYPES:
        return (path, TOO_DEEP) if json_depth(part) > MAX_JSON_DEPTH else None
    unsafe = unsafe_values(part)
    if unsafe:
        nested, problem = unsafe[0]
        return f"{path}.{nested}", problem
    return None
