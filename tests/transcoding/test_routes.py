"""The route table: built from the google.api.http annotations, by their rules (no server needed)."""

from __future__ import annotations

import itertools

import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

from cerebro.transcoding.routes import RouteError, RouteMatch, RouteTable, build_route_table
from cerebro.transcoding.templates import PathTemplate, TemplateError, decode_value
from tests.transcoding.scripted_server import SAMPLE_SERVICE


def sample_table() -> RouteTable:
    return build_route_table(SAMPLE_SERVICE)


@pytest.mark.parametrize(
    ("method", "path", "expected", "values"),
    [
        ("GET", "/neural-mesh/consensus:watch", "WatchDecisions", {}),
        ("GET", "/neural-mesh/consensus/abc", "GetDecision", {"proposal_id": "abc"}),
        ("POST", "/neural-mesh/consensus/a:b:vote", "Vote", {"proposal_id": "a:b"}),
        ("POST", "/neural-mesh/consensus/a%3Avote:vote", "Vote", {"proposal_id": "a%3Avote"}),
        ("GET", "/memory/blocks/core%2Fmemory", "GetMemoryBlock", {"label": "core%2Fmemory"}),
        ("PATCH", "/memory/blocks/persona", "UpdateMemoryBlock", {"block.label": "persona"}),
        ("POST", "/memory/checkpoints:restore", "RestoreCheckpoint", {}),
    ],
)
def test_requests_find_their_route(method: str, path: str, expected: str, values: dict[str, str]) -> None:
    found = sample_table().match(method, path)
    assert isinstance(found, RouteMatch)
    assert (found.route.method.name, found.raw_values) == (expected, values)


def test_a_known_path_with_another_method_lists_the_allowed_ones() -> None:
    table = sample_table()
    allowed = table.match("DELETE", "/memory/semantic")
    assert isinstance(allowed, list) and sorted(allowed) == ["GET", "POST"]
    assert table.match("POST", "/neural-mesh/consensus/abc") == ["GET"]
    assert table.match("GET", "/memory/nothing-here") is None
    assert table.match("GET", "/memory/blocks/a/b") is None


def test_templates_follow_the_http_rule_grammar() -> None:
    template = PathTemplate.parse("/v1/{name=shelves/*/books/**}:read")
    assert template.verb == "read"
    assert template.match("/v1/shelves/1/books/2/3:read") == {"name": "shelves/1/books/2/3"}
    assert template.match("/v1/shelves/1/books/2") is None
    assert template.openapi_path() == "/v1/{name}:read"
    (variable,) = template.variables
    assert variable.multi_segment
    assert decode_value("shelves/a%2Fb/books/%C3%A9", variable) == "shelves/a%2Fb/books/é"
    single = PathTemplate.parse("/v1/things/{id}")
    assert decode_value("a%2Fb%20c", single.variables[0]) == "a/b c"
    with pytest.raises(UnicodeDecodeError):
        decode_value("%FF", single.variables[0])
    assert PathTemplate.parse("/v1/*/x").match("/v1/anything/x") == {}


@pytest.mark.parametrize(
    "text", ["v1/things", "/v1//things", "/v1/{id", "/v1/{a b}", "/v1/{id}}", "/v1/th ings", "/v1/x:bad verb"]
)
def test_malformed_templates_are_refused(text: str) -> None:
    with pytest.raises(TemplateError):
        PathTemplate.parse(text)


_FILE_NUMBERS = itertools.count()


def synthetic_service(
    rules: dict[str, http_pb2.HttpRule | None], client_streaming: frozenset[str] = frozenset()
) -> ServiceDescriptor:
    """A service in the default pool whose methods (all taking ``Thing``) carry the given rules (None: no rule)."""
    number = next(_FILE_NUMBERS)
    package = f"synthetic{number}"
    file = descriptor_pb2.FileDescriptorProto(name=f"synthetic/{number}.proto", package=package, syntax="proto3")
    inner = file.message_type.add(name="Inner")
    inner.field.add(name="id", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING)
    thing = file.message_type.add(name="Thing")
    thing.field.add(name="name", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING)
    thing.field.add(
        name="inner", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE, type_name=f".{package}.Inner"
    )
    thing.field.add(
        name="tags",
        number=3,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
    )
    service = file.service.add(name="Things")
    for name, rule in rules.items():
        method = service.method.add(
            name=name,
            input_type=f".{package}.Thing",
            output_type=f".{package}.Thing",
            client_streaming=name in client_streaming,
        )
        if rule is not None:
            method.options.Extensions[annotations_pb2.http].CopyFrom(rule)
    descriptor_pool.Default().Add(file)
    return descriptor_pool.Default().FindServiceByName(f"{package}.Things")


def test_additional_bindings_custom_methods_and_nested_variables_become_routes() -> None:
    get = http_pb2.HttpRule(get="/v1/things/{name}")
    get.additional_bindings.add(post="/v1/things/{name}:touch", body="*")
    custom = http_pb2.HttpRule(custom=http_pb2.CustomHttpPattern(kind="purge", path="/v1/inners/{inner.id}"))
    table = build_route_table(synthetic_service({"Get": get, "Purge": custom, "Plain": None}))
    assert sorted((route.label, route.method.name) for route in table.routes) == [
        ("GET /v1/things/{name}", "Get"),
        ("POST /v1/things/{name}:touch", "Get"),
        ("PURGE /v1/inners/{inner.id}", "Purge"),
    ]
    found = table.match("PURGE", "/v1/inners/7")
    assert isinstance(found, RouteMatch)
    assert [field.name for field in found.route.path_fields["inner.id"]] == ["inner", "id"]


@pytest.mark.parametrize(
    ("rules", "client_streaming", "complaint"),
    [
        ({"A": http_pb2.HttpRule(get="/v1/{tags}")}, frozenset(), "singular scalar"),
        ({"A": http_pb2.HttpRule(get="/v1/{inner}")}, frozenset(), "singular scalar"),
        ({"A": http_pb2.HttpRule(get="/v1/{nope}")}, frozenset(), "no field 'nope'"),
        ({"A": http_pb2.HttpRule(post="/v1/a", body="nope")}, frozenset(), "is not a field"),
        ({"A": http_pb2.HttpRule(post="/v1/a", body="*", response_body="name")}, frozenset(), "response_body"),
        ({"A": http_pb2.HttpRule(post="/v1/a", body="*")}, frozenset({"A"}), "client streaming"),
        ({"A": http_pb2.HttpRule(get="/v1/a"), "B": http_pb2.HttpRule(get="/v1/a")}, frozenset(), "two methods"),
        ({"A": http_pb2.HttpRule(get="v1/a")}, frozenset(), "must start with '/'"),
        ({"A": http_pb2.HttpRule(body="*")}, frozenset(), "no pattern"),
    ],
)
def test_rules_the_transcoder_cannot_serve_stop_the_build(
    rules: dict[str, http_pb2.HttpRule | None], client_streaming: frozenset[str], complaint: str
) -> None:
    with pytest.raises(RouteError, match=complaint):
        build_route_table(synthetic_service(rules, client_streaming))
