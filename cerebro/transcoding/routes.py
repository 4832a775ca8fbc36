"""The route table of the transcoder, built from the ``google.api.http`` options of a gRPC service.

Every method with an ``HttpRule`` (and each of its ``additional_bindings``) becomes a route: an HTTP
method, a path template, and where the request's fields come from (path variables, the body, the
query). Anything the transcoder could not serve faithfully (client streaming, ``response_body``, a
path variable bound to a repeated or message field, an unknown body field) stops the build.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor, ServiceDescriptor

from cerebro.transcoding.fields import FieldPathError, find_field, is_single_valued, proto_path, resolve_path
from cerebro.transcoding.templates import PathTemplate, TemplateError

BODY_WHOLE_REQUEST = "*"
_PATTERN_KINDS = ("get", "put", "post", "delete", "patch")


class RouteError(ValueError):
    """An HttpRule the transcoder cannot serve."""


@dataclass(frozen=True)
class Route:
    method: MethodDescriptor
    http_method: str
    template: PathTemplate
    # "" (no body), "*" (the whole request) or the name of the top-level request field it fills.
    body: str
    # Field path of each template variable -> the fields along it.
    path_fields: dict[str, tuple[FieldDescriptor, ...]]

    @property
    def grpc_path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def label(self) -> str:
        return f"{self.http_method} {self.template.text}"

    def binds(self, fields: tuple[FieldDescriptor, ...]) -> str | None:
        """Whether a field is set by the path or the body, so a query parameter may not set it: which, or None."""
        name = proto_path(fields)
        for bound in self.path_fields.values():
            bound_name = proto_path(bound)
            if name == bound_name or bound_name.startswith(name + "."):
                return "path"
        if self.body == BODY_WHOLE_REQUEST or (self.body and fields[0].name == self.body):
            return "body"
        return None


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    # Field path -> raw (percent-encoded) value of each path variable.
    raw_values: dict[str, str]


class RouteTable:
    def __init__(self, routes: list[Route]) -> None:
        seen: set[tuple[str, str]] = set()
        for route in routes:
            key = (route.http_method, route.template.text)
            if key in seen:
                raise RouteError(f"two methods are bound to {route.label}")
            seen.add(key)
        # Templates with a verb first, then the most literal: "/a/b:watch" before "/a/{id}".
        self.routes = tuple(sorted(routes, key=lambda r: (not r.template.verb, -r.template.literal_segments)))

    def match(self, http_method: str, raw_path: str) -> RouteMatch | list[str] | None:
        """The route of a request; else the HTTP methods the path allows (for a 405); else None (a 404)."""
        allowed: list[str] = []
        for route in self.routes:
            raw_values = route.template.match(raw_path)
            if raw_values is None:
                continue
            if route.http_method == http_method:
                return RouteMatch(route, raw_values)
            if route.http_method not in allowed:
                allowed.append(route.http_method)
        return allowed or None


def build_route_table(service: ServiceDescriptor) -> RouteTable:
    routes: list[Route] = []
    for method in service.methods:
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        rule = options.Extensions[annotations_pb2.http]
        for binding in [rule, *rule.additional_bindings]:
            routes.append(_route(method, binding))
    return RouteTable(routes)


def _route(method: MethodDescriptor, rule: http_pb2.HttpRule) -> Route:
    where = f"{method.full_name}"
    if method.client_streaming:
        raise RouteError(f"{where}: client streaming cannot be served over HTTP/JSON")
    if rule.response_body:
        raise RouteError(f"{where}: response_body is not supported")
    http_method, path = _pattern(rule, where)
    try:
        template = PathTemplate.parse(path)
    except TemplateError as error:
        raise RouteError(f"{where}: {error}") from None
    path_fields = {variable.field_path: _path_field(method, variable.field_path) for variable in template.variables}
    body = rule.body
    if body and body != BODY_WHOLE_REQUEST and find_field(method.input_type, body) is None:
        raise RouteError(f"{where}: body {body!r} is not a field of {method.input_type.full_name}")
    return Route(method, http_method, template, body, path_fields)


def _pattern(rule: http_pb2.HttpRule, where: str) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind in _PATTERN_KINDS:
        return kind.upper(), getattr(rule, kind)
    if kind == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    raise RouteError(f"{where}: the HttpRule has no pattern")


def _path_field(method: MethodDescriptor, field_path: str) -> tuple[FieldDescriptor, ...]:
    try:
        fields = resolve_path(method.input_type, field_path)
    except FieldPathError as error:
        raise RouteError(f"{method.full_name}: path variable {field_path!r}: {error}") from None
    leaf = fields[-1]
    if leaf.is_repeated or not is_single_valued(leaf):
        raise RouteError(f"{method.full_name}: path variable {field_path!r} must be a singular scalar field")
    return fields
