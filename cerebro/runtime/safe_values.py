"""The values every Cerebro service accepts, and what a stored value is cut to before it is sent.

A request may not carry:

- text holding U+0000 (PostgreSQL cannot store it);
- a number that is NaN or infinite (JSON, and so ``jsonb``, has none, and no field means one);
- a ``google.protobuf.Struct``, ``Value`` or ``ListValue`` nesting objects and arrays more than
  :data:`MAX_JSON_DEPTH` levels deep. A Struct costs three message levels per level of JSON, and the
  protobuf decoder stops at 100: a row written much deeper could be stored, but every response
  holding it would then fail to decode for every reader.

:func:`unsafe_values` names each such value by its field path; the server's edge interceptor refuses
the request with them. :func:`stored_struct` makes a Struct of a stored JSON value that may predate
these rules: anything nested past the limit is replaced by ``null``, so that one old row cannot break
the reads of everyone whose results include it.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any, cast

from google.protobuf import struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from cerebro.runtime.errors import FieldViolation

log = logging.getLogger(__name__)

MAX_JSON_DEPTH = 20
"""Levels of objects and arrays a Struct, Value or ListValue may nest (``{"a": {"b": 1}}`` is 2)."""

NUL_TEXT = "must not contain the NUL character (U+0000)"
NON_FINITE = "must be a finite number (not NaN or infinite)"
TOO_DEEP = f"nests objects and arrays more than {MAX_JSON_DEPTH} levels deep"

JSON_TYPES = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})
_FLOATS = {FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def unsafe_values(message: Message) -> list[FieldViolation]:
    """Every value of ``message`` no Cerebro service accepts, as (field path, what is wrong)."""
    return list(_fields(message, ""))


def _fields(message: Message, prefix: str) -> Iterator[FieldViolation]:
    for field, value in message.ListFields():
        path = prefix + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    yield f"{path}[{key!r}]", NUL_TEXT
                yield from _field_value(value_field, item, f"{path}[{key!r}]")
        elif field.is_repeated:
            for index, item in enumerate(value):
                yield from _field_value(field, item, f"{path}[{index}]")
        else:
            yield from _field_value(field, value, path)


def _field_value(field: FieldDescriptor, value: Any, path: str) -> Iterator[FieldViolation]:
    if field.type == FieldDescriptor.TYPE_STRING:
        if "\x00" in value:
            yield path, NUL_TEXT
    elif field.type in _FLOATS:
        if not math.isfinite(value):
            yield path, NON_FINITE
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        assert field.message_type is not None  # a message field
        if field.message_type.full_name in JSON_TYPES:
            if json_depth(value) > MAX_JSON_DEPTH:
                yield path, TOO_DEEP
            else:
                yield from _json_values(value, path)
        else:
            yield from _fields(value, path + ".")


def json_depth(message: Message) -> int:
    """Levels of objects and arrays in ``message``, counted only up to one past the limit."""
    return _depth(message, MAX_JSON_DEPTH + 1)


def _depth(message: Message, budget: int) -> int:
    """The depth of ``message``, or ``budget`` when it is deeper."""
    if isinstance(message, struct_pb2.Value):
        kind = message.WhichOneof("kind")
        if kind == "struct_value":
            return _depth(message.struct_value, budget)
        if kind == "list_value":
            return _depth(message.list_value, budget)
        return 0
    if budget <= 0:
        return 0
    items: Iterable[struct_pb2.Value]
    if isinstance(message, struct_pb2.Struct):
        items = message.fields.values()
    else:
        items = cast(struct_pb2.ListValue, message).values
    return 1 + max((_depth(item, budget - 1) for item in items), default=0)


def _json_values(message: Message, path: str) -> Iterator[FieldViolation]:
    if isinstance(message, struct_pb2.Struct):
        for key, item in message.fields.items():
            item_path = f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{json.dumps(key)}]"
            if "\x00" in key:
                yield item_path, NUL_TEXT
            yield from _json_values(item, item_path)
    elif isinstance(message, struct_pb2.ListValue):
        for index, item in enumerate(message.values):
            yield from _json_values(item, f"{path}[{index}]")
    elif isinstance(message, struct_pb2.Value):
        kind = message.WhichOneof("kind")
        if kind == "number_value" and not math.isfinite(message.number_value):
            yield path, NON_FINITE
        elif kind == "string_value" and "\x00" in message.string_value:
            yield path, NUL_TEXT
        elif kind in ("struct_value", "list_value"):
            yield from _json_values(getattr(message, kind), path)


def stored_struct(value: dict[str, Any] | None, what: str) -> struct_pb2.Struct:
    """A Struct of a stored JSON object, with anything nested past the limit replaced by null.

    ``what`` says where the value comes from, for the warning logged when something is cut.
    """
    message = struct_pb2.Struct()
    if value:
        bounded, cut = _bounded(value, MAX_JSON_DEPTH)
        if cut:
            log.warning(
                "%s: a stored value nests deeper than %d levels; deeper parts are sent as null", what, MAX_JSON_DEPTH
            )
        message.update(bounded)
    return message


def _bounded(value: Any, levels: int) -> tuple[Any, bool]:
    """``value`` with objects and arrays below ``levels`` levels replaced by None, and whether any were."""
    if not isinstance(value, dict | list):
        return value, False
    if levels <= 0:
        return None, True
    if isinstance(value, dict):
        pairs = [(key, _bounded(item, levels - 1)) for key, item in value.items()]
        return {key: item for key, (item, _) in pairs}, any(cut for _, (_, cut) in pairs)
    elements = [_bounded(item, levels - 1) for item in value]
    return [item for item, _ in elements], any(cut for _, cut in elements)
