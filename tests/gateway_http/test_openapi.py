"""The OpenAPI document: valid OpenAPI 3.1, one operation per route, schemas that fit proto3 JSON exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from google.protobuf.descriptor import Descriptor
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from cerebro.transcoding.json_schema import REF_PREFIX
from cerebro.transcoding.transcode import message_to_json
from services.gateway.http.gateway_api import OPENAPI_PATH, openapi_document, openapi_text, route_table
from tests.gateway_http.conftest import ScriptedFace
from tests.transcoding.samples import filled

REPOSITORY_COPY = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document(route_table())


def component_validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator of ``#/components/schemas/<name>`` that resolves the document's references."""
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(document, DRAFT202012))
    return Draft202012Validator(
        {"$ref": "urn:openapi" + REF_PREFIX + name},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def reachable_messages(descriptor: Descriptor, seen: dict[str, Descriptor]) -> dict[str, Descriptor]:
    if descriptor.full_name not in seen:
        seen[descriptor.full_name] = descriptor
        for field in descriptor.fields:
            if field.message_type is not None:
                reachable_messages(field.message_type, seen)
    return seen


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_route_is_an_operation_and_only_health_is_public(document: dict[str, Any]) -> None:
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    expected = {(route.http_method, route.template.openapi_path()): route.method.name for route in route_table().routes}
    expected[("GET", OPENAPI_PATH)] = "GetOpenApiDocument"
    assert {key: operation["operationId"] for key, operation in operations.items()} == expected
    public = {operation["operationId"] for operation in operations.values() if operation.get("security") == []}
    assert public == {"GetHealth", "GetOpenApiDocument"}


def test_parameters_and_bodies_follow_the_http_rules(document: dict[str, Any]) -> None:
    update = document["paths"]["/memory/blocks/{block_label}"]["patch"]
    assert {(p["name"], p["in"]) for p in update["parameters"]} == {
        ("block_label", "path"),
        ("updateMask", "query"),
        ("expectedVersion", "query"),
    }
    assert update["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": REF_PREFIX + "cerebro.memory.v1.MemoryBlock"
    }
    vote_body = document["paths"]["/neural-mesh/consensus/{proposal_id}:vote"]["post"]["requestBody"]
    assert set(vote_body["content"]["application/json"]["schema"]["properties"]) == {"voterId", "choice", "signature"}
    recent = document["paths"]["/memory/episodic/recent"]["get"]
    assert "requestBody" not in recent
    assert {p["name"] for p in recent["parameters"]} >= {"filter.tags", "filter.startTime", "pageSize", "pageToken"}
    watch = document["paths"]["/neural-mesh/consensus:watch"]["get"]["responses"]["200"]
    assert set(watch["content"]) == {"application/x-ndjson"}


def test_every_message_with_every_field_set_fits_its_schema(document: dict[str, Any]) -> None:
    messages: dict[str, Descriptor] = {}
    for route in route_table().routes:
        reachable_messages(route.method.input_type, messages)
        reachable_messages(route.method.output_type, messages)
    components = document["components"]["schemas"]
    checked = 0
    for name, descriptor in messages.items():
        if name not in components:  # well-known types with a JSON form of their own: inlined
            continue
        sample = message_to_json(filled(descriptor))
        component_validator(document, name).validate(sample)
        checked += 1
    assert checked > 40


def test_schemas_refuse_what_json_format_refuses(document: dict[str, Any]) -> None:
    validator = component_validator(document, "cerebro.gateway.v1.RecallRequest")
    for refused in ({"bogus": 1}, {"topK": 2**31}, {"mode": "LOUD"}, {"filter": {"tags": [1]}}):
        assert not validator.is_valid(refused), refused
    assert validator.is_valid({"query": "x", "topK": 5, "mode": "SEARCH_MODE_TEXT", "filter": {"tags": ["a"]}})
    stats = component_validator(document, "cerebro.gateway.v1.GetStatsResponse")
    assert not stats.is_valid({"pendingLearnings": 5}), "int64 is a string in proto3 JSON"
    assert stats.is_valid({"pendingLearnings": "5"})


def test_the_repository_copy_is_current(document: dict[str, Any]) -> None:
    assert REPOSITORY_COPY.read_text(encoding="utf-8") == openapi_text(document), (
        "docs/openapi.json is stale: run `python -m services.gateway.http.gateway_api docs/openapi.json`"
    )


async def test_the_face_serves_the_document(face: ScriptedFace, document: dict[str, Any]) -> None:
    response = await face.http.get(OPENAPI_PATH)
    assert response.status == 200
    assert await response.json() == document
