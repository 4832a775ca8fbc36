"""Between HTTP and messages: requests built by google.api.http's rules, responses in proto3 JSON.

A request message is assembled from three places:

- the body, a JSON object that is the whole request (``body: "*"``) or the value of one field
  (``body: "block"``); routes without a body refuse one;
- the path variables, which set the fields they name (if the body sets such a field too, it must be
  to the same value);
- the query parameters, which set any other field that has a single-string form, by its JSON or
  proto name, nested ones with dots (``?filter.tags=a&filter.tags=b&pageSize=5``); refused when the
  body is the whole request.

Everything is parsed by ``json_format`` with unknown fields refused, and the result must hold only
values every service accepts (:mod:`cerebro.runtime.safe_values`: no NaN or infinite number, such as
JSON's ``1e400``, no Struct nested past 20 levels). Any problem raises INVALID_ARGUMENT with a
``google.rpc.BadRequest`` naming every bad field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from cerebro.runtime.errors import FieldViolation, invalid_argument
from cerebro.runtime.safe_values import unsafe_values
from cerebro.transcoding.fields import (
    FieldPathError,
    containing_type,
    find_field,
    is_bool,
    is_single_valued,
    message_class,
    proto_path,
    resolve_path,
)
from cerebro.transcoding.routes import BODY_WHOLE_REQUEST, Route, RouteMatch
from cerebro.transcoding.templates import decode_value
from cerebro.transcoding.violations import bad_value, expected_form, find_violations, nesting_violations

QueryItems = Sequence[tuple[str, str]]


def build_request(match: RouteMatch, query: QueryItems, body: bytes) -> Message:
    """The request message of ``match.route``'s method, from the request's path, query and body."""
    route = match.route
    descriptor = route.method.input_type
    violations: list[FieldViolation] = []
    document = _body_document(route, body, violations)
    _add_query_parameters(route, query, document, violations)
    path_values = _decoded_path_values(match, violations)
    violations += nesting_violations(descriptor, document)
    if violations:
        raise invalid_argument(violations)
    message = message_class(descriptor)()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=False)
    except json_format.ParseError as error:
        located = find_violations(descriptor, document)
        raise invalid_argument(located or [("", str(error).splitlines()[0])]) from None
    _apply_path_values(route, path_values, message)
    # The rules every service keeps (NaN or infinite numbers, written 1e400 in JSON; NUL), here
    # rather than from the gRPC call, so that they are checked before anything else is.
    unsafe = unsafe_values(message)
    if unsafe:
        raise invalid_argument(unsafe)
    return message


def message_to_json(message: Message) -> dict[str, Any]:
    """Canonical proto3 JSON (lowerCamelCase names, int64 as strings, enums by name), zero values included."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def parse_json(body: bytes) -> object:
    """Strict JSON: UTF-8, no duplicate keys, no NaN/Infinity literals; ValueError otherwise."""
    try:
        return json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"duplicate key {key!r}")
        document[key] = value
    return document


def _refuse_constant(name: str) -> None:
    raise ValueError(f'{name} is not JSON (proto3 JSON writes it as the string "{name}")')


def _body_document(route: Route, body: bytes, violations: list[FieldViolation]) -> dict[str, Any]:
    if not route.body:
        if body.strip():
            violations.append(("", f"{route.label} takes no body; send the fields as query parameters"))
        return {}
    if not body.strip():
        return {}
    try:
        value = parse_json(body)
    except ValueError as error:
        violations.append(("", f"the body is not valid JSON: {error}"))
        return {}
    if route.body == BODY_WHOLE_REQUEST:
        if not isinstance(value, dict):
            violations.append(("", f"the body must be a JSON object ({route.method.input_type.full_name})"))
            return {}
        return value
    field = find_field(route.method.input_type, route.body)
    assert field is not None, "checked when the route was built"
    return {field.json_name: value}


def _add_query_parameters(
    route: Route, query: QueryItems, document: dict[str, Any], violations: list[FieldViolation]
) -> None:
    grouped: dict[str, tuple[tuple[FieldDescriptor, ...], list[str]]] = {}
    for name, value in query:
        if route.body == BODY_WHOLE_REQUEST:
            violations.append((name, "not accepted: the body carries the whole request"))
            continue
        try:
            fields = resolve_path(route.method.input_type, name)
        except FieldPathError as error:
            violations.append((name, f"unknown query parameter: {error}"))
            continue
        path = proto_path(fields)
        bound = route.binds(fields)
        if bound is not None:
            violations.append((path, f"is set by the {bound}, not by a query parameter"))
        elif not is_single_valued(fields[-1]):
            violations.append((path, f"cannot be a query parameter: it is {expected_form(fields[-1])}"))
        else:
            grouped.setdefault(path, (fields, []))[1].append(value)
    for path, (fields, values) in grouped.items():
        leaf = fields[-1]
        if not leaf.is_repeated and len(values) > 1:
            violations.append((path, f"is given {len(values)} times and takes one value"))
            continue
        target = document
        for field in fields[:-1]:
            target = target.setdefault(field.json_name, {})
        converted = [_json_value(leaf, value) for value in values]
        target[leaf.json_name] = converted if leaf.is_repeated else converted[0]


def _decoded_path_values(match: RouteMatch, violations: list[FieldViolation]) -> dict[str, str]:
    decoded: dict[str, str] = {}
    for variable in match.route.template.variables:
        try:
            decoded[variable.field_path] = decode_value(match.raw_values[variable.field_path], variable)
        except UnicodeDecodeError:
            path = proto_path(match.route.path_fields[variable.field_path])
            violations.append((path, "must be percent-encoded UTF-8 in the path"))
    return decoded


def _apply_path_values(route: Route, values: dict[str, str], message: Message) -> None:
    violations: list[FieldViolation] = []
    for field_path, text in values.items():
        fields = route.path_fields[field_path]
        leaf = fields[-1]
        parsed = message_class(containing_type(leaf))()
        try:
            json_format.ParseDict({leaf.json_name: _json_value(leaf, text)}, parsed, ignore_unknown_fields=False)
        except json_format.ParseError:
            violations.append((proto_path(fields), bad_value(leaf, text)))
            continue
        target = message
        for field in fields[:-1]:
            target = getattr(target, field.name)
        wanted = getattr(parsed, leaf.name)
        if _is_set(target, leaf) and getattr(target, leaf.name) != wanted:
            violations.append((proto_path(fields), f"differs from the value in the path, {json.dumps(text)}"))
        elif leaf.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(target, leaf.name).CopyFrom(wanted)
        else:
            setattr(target, leaf.name, wanted)
    if violations:
        raise invalid_argument(violations)


def _is_set(message: Message, field: FieldDescriptor) -> bool:
    if field.has_presence:
        return message.HasField(field.name)
    return bool(getattr(message, field.name) != field.default_value)


def _json_value(field: FieldDescriptor, text: str) -> object:
    """A path or query string as the JSON value json_format expects: only booleans are not strings."""
    if is_bool(field):
        return {"true": True, "false": False}.get(text, text)
    return text
