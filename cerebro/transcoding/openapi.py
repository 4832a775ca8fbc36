"""The OpenAPI 3.1 document of a transcoded service, generated from the same route table that serves it.

Each route is an operation: its path variables are path parameters, the fields the body carries are
the request body, every other field with a single-string form is a query parameter (nested ones by
dotted JSON name, e.g. ``filter.startTime``), and the response is the output message, or for a
server stream newline-delimited ``{"result": ...}`` / ``{"error": ...}`` objects. Errors are
``google.rpc.Status`` objects. Schemas follow :mod:`cerebro.transcoding.json_schema`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.rpc import status_pb2

from cerebro.transcoding.fields import is_plain_message, is_single_valued, message_type
from cerebro.transcoding.handler import JSON_CONTENT_TYPE, STREAM_CONTENT_TYPE
from cerebro.transcoding.json_schema import Schema, SchemaCollector
from cerebro.transcoding.routes import BODY_WHOLE_REQUEST, Route, RouteTable
from cerebro.transcoding.templates import parameter_name

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "bearerAuth"
ERROR_RESPONSE = "Error"


def build_openapi(
    table: RouteTable,
    *,
    title: str,
    version: str,
    description: str,
    public_methods: frozenset[str],
    document_path: str,
) -> dict[str, Any]:
    """The document; ``public_methods`` need no credentials, ``document_path`` is where it is served."""
    schemas = SchemaCollector()
    status_ref = schemas.message_ref(status_pb2.Status.DESCRIPTOR)
    paths: dict[str, dict[str, Any]] = {document_path: {"get": _document_operation()}}
    operation_ids: dict[str, int] = {}
    for route in table.routes:
        name = route.method.name
        operation_ids[name] = operation_ids.get(name, 0) + 1
        operation_id = name if operation_ids[name] == 1 else f"{name}{operation_ids[name]}"
        operation = _operation(route, operation_id, schemas, status_ref)
        if name in public_methods:
            operation["security"] = []
        paths.setdefault(route.template.openapi_path(), {})[route.http_method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": {ERROR_RESPONSE: _error_response(status_ref)},
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key of the caller's instance: `Authorization: Bearer crb_...`.",
                }
            },
        },
    }


def _operation(route: Route, operation_id: str, schemas: SchemaCollector, status_ref: Schema) -> dict[str, Any]:
    method = route.method
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [route.template.text.strip("/").split("/")[0].split(":")[0]],
        "summary": method.name,
        "description": f"gRPC method `{route.grpc_path}`.",
        "parameters": [*_path_parameters(route, schemas), *_query_parameters(route, schemas)],
        "responses": {
            "200": _success_response(route, schemas, status_ref),
            "default": {"$ref": f"#/components/responses/{ERROR_RESPONSE}"},
        },
    }
    if route.body:
        operation["requestBody"] = {"content": {JSON_CONTENT_TYPE: {"schema": _body_schema(route, schemas)}}}
    return operation


def _path_parameters(route: Route, schemas: SchemaCollector) -> Iterator[dict[str, Any]]:
    for field_path, fields in route.path_fields.items():
        schema = schemas.field_schema(fields[-1])
        if schema.get("type") == "string":
            schema = {**schema, "minLength": 1}  # a path segment is never empty
        yield {
            "name": parameter_name(field_path),
            "in": "path",
            "required": True,
            "description": f"The request field `{field_path}`.",
            "schema": schema,
        }


def _query_parameters(route: Route, schemas: SchemaCollector) -> Iterator[dict[str, Any]]:
    if route.body == BODY_WHOLE_REQUEST:
        return
    for fields in _query_fields(route.method.input_type, (), frozenset()):
        if route.binds(fields) is None:
            yield {
                "name": ".".join(field.json_name for field in fields),
                "in": "query",
                "required": False,
                "schema": schemas.field_schema(fields[-1]),
            }


def _query_fields(
    descriptor: Descriptor, prefix: tuple[FieldDescriptor, ...], visiting: frozenset[str]
) -> Iterator[tuple[FieldDescriptor, ...]]:
    """Every field reachable through singular plain messages that a query string can set."""
    for field in descriptor.fields:
        fields = (*prefix, field)
        if is_plain_message(field) and not field.is_repeated:
            if message_type(field).full_name not in visiting:
                yield from _query_fields(message_type(field), fields, visiting | {descriptor.full_name})
        elif is_single_valued(field):
            yield fields


def _body_schema(route: Route, schemas: SchemaCollector) -> Schema:
    descriptor = route.method.input_type
    if route.body != BODY_WHOLE_REQUEST:
        return schemas.field_schema(descriptor.fields_by_name[route.body])
    from_path = frozenset(fields[0].name for fields in route.path_fields.values() if len(fields) == 1)
    if not from_path:
        return schemas.message_ref(descriptor)
    return schemas.object_schema(descriptor, omit=from_path)


def _success_response(route: Route, schemas: SchemaCollector, status_ref: Schema) -> dict[str, Any]:
    output = schemas.message_ref(route.method.output_type)
    if not route.method.server_streaming:
        return {"description": "The response message.", "content": {JSON_CONTENT_TYPE: {"schema": output}}}
    line = {
        "type": "object",
        "properties": {"result": output, "error": status_ref},
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": False,
    }
    return {
        "description": (
            'A stream of newline-delimited JSON objects, one per line: `{"result": <message>}` for each '
            'message, and `{"error": <google.rpc.Status>}` as the last line if the stream fails.'
        ),
        "content": {STREAM_CONTENT_TYPE: {"schema": line}},
    }


def _error_response(status_ref: Schema) -> dict[str, Any]:
    return {
        "description": (
            "The google.rpc.Status of the failed call; the HTTP status follows google.rpc's mapping "
            "(INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404, "
            "ALREADY_EXISTS and ABORTED 409, RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, ...); "
            "413 for a body over the limit, 415 for a body that is not JSON."
        ),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying, when the status carries a google.rpc.RetryInfo.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": {JSON_CONTENT_TYPE: {"schema": status_ref}},
    }


def _document_operation() -> dict[str, Any]:
    return {
        "operationId": "GetOpenApiDocument",
        "tags": ["meta"],
        "summary": "This document.",
        "security": [],
        "responses": {
            "200": {
                "description": "The OpenAPI document.",
                "content": {JSON_CONTENT_TYPE: {"schema": {"type": "object"}}},
            }
        },
    }
