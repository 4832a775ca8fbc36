"""HTTP/JSON to gRPC and back, through the face in front of a scripted AgentGateway on a real gRPC server."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from prometheus_client import REGISTRY

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import resources_pb2
from cerebro.memory.v1 import episodes_pb2
from cerebro.runtime.errors import ServiceError, invalid_argument, resource_exhausted, unauthenticated
from cerebro.transcoding.routes import build_route_table
from cerebro.transcoding.server import running_transcoder
from cerebro.transcoding.statuses import HTTP_STATUS
from tests.support import free_port
from tests.transcoding.conftest import DEFAULT_TIMEOUT_SECONDS, MAX_BODY_BYTES, SETTINGS, ScriptedFace, loopback_channel
from tests.transcoding.samples import filled
from tests.transcoding.scripted_server import SAMPLE_SERVICE


def violations(body: dict[str, Any]) -> dict[str, str]:
    """Field -> description of the BadRequest in a google.rpc.Status body."""
    (bad_request,) = [d for d in body["details"] if d["@type"] == "type.googleapis.com/google.rpc.BadRequest"]
    # proto3 JSON leaves out the empty field name of a violation about the request as a whole.
    return {violation.get("field", ""): violation["description"] for violation in bad_request["fieldViolations"]}


def canonical(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


async def test_a_request_and_its_response_go_through_in_proto3_json(face: ScriptedFace) -> None:
    sent = {
        "requestId": "0b7c1e1a-52a3-4c1e-9d51-8d3f3f7e6a10",
        "actionType": "system_optimization_complete",
        "actionDetails": {"freed_mb": 512, "steps": ["gc", "compact"], "ok": True, "note": None},
        "contextState": {"load": 0.4},
        "tags": ["ops", "memory"],
        "importance": 0.75,
        "occurTime": "2026-03-01T10:00:00.5Z",
    }
    response = await face.http.post("/memory/action", json=sent)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    received = face.server.last("Remember").request
    assert canonical(received) == canonical(json_format.ParseDict(sent, pb.RememberRequest()))
    assert received.HasField("importance") and received.occur_time.nanos == 500_000_000
    body = await response.json()
    expected = filled(pb.RememberResponse.DESCRIPTOR)
    assert json_format.ParseDict(body, pb.RememberResponse()) == expected
    assert body == canonical(expected)
    episode = body["episode"]
    assert episode["embeddingState"] == episodes_pb2.EmbeddingState.Name(expected.episode.embedding_state)
    assert episode["occurTime"] == "2026-01-31T12:30:15.250Z"


async def test_64_bit_integers_are_strings_and_zero_values_are_written(face: ScriptedFace) -> None:
    async def stats(request: Message, context: grpc.aio.ServicerContext) -> Message:
        return pb.GetStatsResponse(
            namespace="nexus", memory=resources_pb2.MemoryStats(episodes_total=2**53 + 1), pending_learnings=0
        )

    face.server.scripts["GetStats"] = stats
    body = await (await face.http.get("/stats")).json()
    assert body["memory"]["episodesTotal"] == str(2**53 + 1)
    assert body["pendingLearnings"] == "0"
    assert body["connectedInstances"] == 0


async def test_proto_field_names_are_accepted_as_well_as_json_names(face: ScriptedFace) -> None:
    response = await face.http.post("/memory/search", json={"query": "first day", "top_k": 3, "namespace": "aria"})
    assert response.status == 200
    assert face.server.last("Recall").request == pb.RecallRequest(query="first day", top_k=3, namespace="aria")


async def test_query_parameters_fill_the_fields_the_path_and_body_do_not(face: ScriptedFace) -> None:
    query = [
        ("filter.tags", "ops"),
        ("filter.tags", "memory"),
        ("filter.start_time", "2026-01-01T00:00:00Z"),
        ("filter.minImportance", "0.5"),
        ("pageSize", "5"),
        ("namespace", "aria"),
    ]
    response = await face.http.get("/memory/episodic/recent", params=query)
    assert response.status == 200
    request = face.server.last("ListRecentEpisodes").request
    assert list(request.filter.tags) == ["ops", "memory"]
    assert request.filter.start_time.ToJsonString() == "2026-01-01T00:00:00Z"
    assert (request.filter.min_importance, request.page_size, request.namespace) == (0.5, 5, "aria")
    await face.http.get("/neural-mesh/connected-agents", params={"includeServiceReplicas": "true", "region": "eu"})
    listed = face.server.last("ListConnectedInstances").request
    assert (listed.include_service_replicas, listed.region) == (True, "eu")


async def test_path_variables_and_a_body_field_make_one_request(face: ScriptedFace) -> None:
    response = await face.http.patch(
        "/memory/blocks/core%20persona%2F1",
        params={"updateMask": "value,charLimit", "expectedVersion": "3"},
        json={"value": "NEXUS, curious", "charLimit": 2000},
    )
    assert response.status == 200
    request = face.server.last("UpdateMemoryBlock").request
    assert request.block.label == "core persona/1"
    assert (request.block.value, request.block.char_limit) == ("NEXUS, curious", 2000)
    assert list(request.update_mask.paths) == ["value", "char_limit"]
    assert request.expected_version == 3
    vote = await face.http.post(
        "/neural-mesh/consensus/6d1f0c3e-8a3b-4f0e-9f3e-2b1d8c7a9e01:vote",
        json={"voterId": "v1", "choice": "yes", "signature": "c2lnbmVk"},
    )
    assert vote.status == 200
    assert face.server.last("Vote").request == pb.VoteRequest(
        proposal_id="6d1f0c3e-8a3b-4f0e-9f3e-2b1d8c7a9e01", voter_id="v1", choice="yes", signature=b"signed"
    )


async def test_a_body_may_repeat_a_path_value_but_not_contradict_it(face: ScriptedFace) -> None:
    same = await face.http.patch("/memory/blocks/persona", json={"label": "persona", "value": "v"})
    assert same.status == 200
    other = await face.http.patch("/memory/blocks/persona", json={"label": "human", "value": "v"})
    assert other.status == 400
    assert "differs from the value in the path" in violations(await other.json())["block.label"]
    contradicting = await face.http.post("/neural-mesh/consensus/p1:vote", json={"proposalId": "p2"})
    assert set(violations(await contradicting.json())) == {"proposal_id"}


@pytest.mark.parametrize(
    ("path", "sent", "field", "needs"),
    [
        ("/memory/search", {"query": "x", "bogus": 1}, "bogus", "unknown field"),
        ("/memory/search", {"filter": {"nope": True}}, "filter.nope", "unknown field"),
        ("/memory/search", {"topK": "many"}, "top_k", "must be an integer (int32)"),
        ("/memory/search", {"topK": 1.5}, "top_k", "must be an integer"),
        ("/memory/search", {"query": 5}, "query", "must be a string"),
        ("/memory/search", {"mode": "LOUD"}, "mode", "must be one of SEARCH_MODE_UNSPECIFIED"),
        ("/memory/search", {"filter": {"tags": ["ok", 7]}}, "filter.tags[1]", "must be a string"),
        ("/memory/search", {"filter": "recent"}, "filter", "must be a JSON object"),
        ("/memory/action", {"tags": "ops"}, "tags", "must be a JSON array"),
        ("/memory/action", {"importance": "high"}, "importance", "must be a number"),
        ("/memory/action", {"occurTime": "yesterday"}, "occur_time", "RFC 3339"),
        ("/memory/action", {"metadata": [1, 2]}, "metadata", "must be a JSON object"),
        ("/memory/action", {"tags": ["a", None]}, "tags[1]", "must be a string"),
        ("/neural-mesh/consensus", {"proposerSignature": 12}, "proposer_signature", "base64"),
        ("/memory/blocks", {"charLimit": True}, "block.char_limit", "must be an integer"),
        ("/memory/blocks", {"label": "x", "label_": 1}, "block.label_", "unknown field"),
    ],
)
async def test_unknown_fields_and_wrong_types_are_400_naming_the_field(
    face: ScriptedFace, path: str, sent: dict[str, Any], field: str, needs: str
) -> None:
    response = await face.http.post(path, json=sent)
    assert response.status == 400
    body = await response.json()
    assert body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert needs in violations(body)[field]
    assert face.server.calls == []


async def test_every_bad_field_is_reported_at_once(face: ScriptedFace) -> None:
    response = await face.http.post("/memory/search", json={"topK": "x", "bogus": 1, "filter": {"tags": [1]}})
    assert set(violations(await response.json())) == {"top_k", "bogus", "filter.tags[0]"}


@pytest.mark.parametrize(
    ("query", "field", "needs"),
    [
        ([("bogus", "1")], "bogus", "unknown query parameter"),
        ([("pageSize", "ten")], "page_size", "must be an integer"),
        ([("pageSize", "1"), ("pageSize", "2")], "page_size", "given 2 times"),
        ([("filter", "x")], "filter", "cannot be a query parameter"),
        ([("filter.tags.x", "1")], "filter.tags.x", "unknown query parameter"),
    ],
)
async def test_bad_query_parameters_are_400_naming_them(
    face: ScriptedFace, query: list[tuple[str, str]], field: str, needs: str
) -> None:
    response = await face.http.get("/memory/episodic/recent", params=query)
    assert response.status == 400
    assert needs in violations(await response.json())[field]


async def test_where_fields_may_come_from_is_enforced(face: ScriptedFace) -> None:
    whole_body = await face.http.post("/memory/search", params={"topK": "3"}, json={"query": "x"})
    assert "the body carries the whole request" in violations(await whole_body.json())["topK"]
    body_field = await face.http.post("/memory/blocks", params={"block.value": "v"}, json={"label": "x"})
    assert "set by the body" in violations(await body_field.json())["block.value"]
    path_field = await face.http.get("/memory/blocks/persona", params={"label": "other"})
    assert "set by the path" in violations(await path_field.json())["label"]
    no_body = await face.http.get("/health", data=b'{"x": 1}', headers={"Content-Type": "application/json"})
    assert "takes no body" in violations(await no_body.json())[""]
    assert face.server.calls == []


@pytest.mark.parametrize(
    ("body", "needs"),
    [
        (b'{"query": "x",', "not valid JSON"),
        (b'{"query": "x", "query": "y"}', "duplicate key 'query'"),
        (b'{"importance": NaN}', "NaN is not JSON"),
        (b'["query"]', "must be a JSON object"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 50_000, "nested too deeply"),
    ],
)
async def test_malformed_bodies_are_400(face: ScriptedFace, body: bytes, needs: str) -> None:
    response = await face.http.post("/memory/action", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert needs in violations(await response.json())[""]


async def test_an_empty_body_is_an_empty_request(face: ScriptedFace) -> None:
    response = await face.http.post("/memory/identity:heartbeat")
    assert response.status == 200
    assert face.server.last("Heartbeat").request == pb.HeartbeatRequest()


async def test_a_body_over_the_limit_is_413_and_never_reaches_grpc(face: ScriptedFace) -> None:
    content = "x" * MAX_BODY_BYTES
    response = await face.http.post("/memory/action", json={"content": content})
    assert response.status == 413
    body = await response.json()
    assert body["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert "over the limit" in body["message"]
    assert face.server.calls == []


async def test_a_body_that_is_not_json_is_415(face: ScriptedFace) -> None:
    response = await face.http.post("/memory/action", data="content=x", headers={"Content-Type": "text/plain"})
    assert response.status == 415
    assert (await response.json())["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    charset = await face.http.post(
        "/memory/action", data=b'{"content": "x"}', headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert charset.status == 200


async def test_unknown_paths_are_404_and_wrong_methods_405(face: ScriptedFace) -> None:
    missing = await face.http.get("/memory/nothing")
    assert missing.status == 404
    assert (await missing.json())["code"] == grpc.StatusCode.NOT_FOUND.value[0]
    wrong = await face.http.delete("/memory/blocks/persona")
    assert wrong.status == 405
    assert wrong.headers["Allow"] == "GET, PATCH"


async def test_credentials_and_trace_context_are_passed_on_as_metadata(face: ScriptedFace) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = {"Authorization": "Bearer crb_0123456789abcdef.secret", "traceparent": traceparent, "X-Other": "no"}
    await face.http.get("/stats", headers=headers)
    call = face.server.last("GetStats")
    assert call.header("authorization") == ["Bearer crb_0123456789abcdef.secret"]
    assert call.header("traceparent") == [traceparent]
    assert call.header("x-other") == []


async def test_an_authorization_header_grpc_cannot_carry_is_401(face: ScriptedFace) -> None:
    response = await face.http.get("/stats", headers={"Authorization": "Bearer caf\u00e9"})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert face.server.calls == []


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, DEFAULT_TIMEOUT_SECONDS),
        ({"grpc-timeout": "2S"}, 2.0),
        ({"grpc-timeout": "1500m"}, 1.5),
        ({"X-Request-Timeout": "3.5"}, 3.5),
        ({"grpc-timeout": "1M", "X-Request-Timeout": "3"}, 60.0),
    ],
)
async def test_the_deadline_comes_from_the_headers_or_the_default(
    face: ScriptedFace, headers: dict[str, str], seconds: float
) -> None:
    await face.http.get("/health", headers=headers)
    remaining = face.server.last("GetHealth").time_remaining
    # gRPC sends the timeout rounded to its wire units, so the server may see a little more.
    assert remaining is not None and seconds - 1.0 < remaining <= seconds * 1.01 + 0.1


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("grpc-timeout", "2"),
        ("grpc-timeout", "123456789S"),
        ("grpc-timeout", "0S"),
        ("X-Request-Timeout", "soon"),
        ("X-Request-Timeout", "-1"),
        ("X-Request-Timeout", "nan"),
        ("X-Request-Timeout", "1e9"),
    ],
)
async def test_a_malformed_deadline_is_400_naming_the_header(face: ScriptedFace, header: str, value: str) -> None:
    response = await face.http.get("/health", headers={header: value})
    assert response.status == 400
    assert header in violations(await response.json())


async def test_a_call_past_its_deadline_is_504(face: ScriptedFace) -> None:
    async def slow(request: Message, context: grpc.aio.ServicerContext) -> Message:
        await asyncio.Event().wait()  # until the deadline cancels the call
        raise AssertionError("unreachable")

    face.server.scripts["GetHealth"] = slow
    response = await face.http.get("/health", headers={"grpc-timeout": "100m"})
    assert response.status == 504
    assert (await response.json())["code"] == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]


CODES_WITH_OWN_STATUS = [code for code in grpc.StatusCode if code is not grpc.StatusCode.OK]


@pytest.mark.parametrize("code", CODES_WITH_OWN_STATUS, ids=lambda code: code.name)
async def test_grpc_codes_become_google_rpc_http_statuses(face: ScriptedFace, code: grpc.StatusCode) -> None:
    async def fail(request: Message, context: grpc.aio.ServicerContext) -> Message:
        raise ServiceError(code, f"failed with {code.name}")

    face.server.scripts["GetStats"] = fail
    response = await face.http.get("/stats")
    assert response.status == HTTP_STATUS[code]
    body = await response.json()
    if code is not grpc.StatusCode.INTERNAL and code is not grpc.StatusCode.UNKNOWN:
        assert body["message"] == f"failed with {code.name}"
    assert body["code"] == code.value[0]


def test_the_status_mapping_is_google_rpcs() -> None:
    assert {code.name: status for code, status in HTTP_STATUS.items()} == {
        "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
        "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "UNAUTHENTICATED": 401,
        "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400,
        "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500,
    }  # fmt: skip


async def test_error_details_reach_the_http_client(face: ScriptedFace) -> None:
    async def refuse(request: Message, context: grpc.aio.ServicerContext) -> Message:
        raise invalid_argument([("content", "must contain non-whitespace text")])

    face.server.scripts["Remember"] = refuse
    response = await face.http.post("/memory/action", json={"content": "   "})
    assert response.status == 400
    body = await response.json()
    assert body["message"] == "content: must contain non-whitespace text"
    assert violations(body) == {"content": "must contain non-whitespace text"}


async def test_resource_exhausted_is_429_with_retry_after(face: ScriptedFace) -> None:
    async def limited(request: Message, context: grpc.aio.ServicerContext) -> Message:
        raise resource_exhausted("rate limit exceeded", 2.2)

    face.server.scripts["Recall"] = limited
    response = await face.http.post("/memory/search", json={"query": "x"})
    assert response.status == 429
    assert response.headers["Retry-After"] == "3"
    body = await response.json()
    assert body["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.200s"}]


async def test_unauthenticated_is_401_and_permission_denied_403(face: ScriptedFace) -> None:
    async def unknown_key(request: Message, context: grpc.aio.ServicerContext) -> Message:
        raise unauthenticated("unknown or revoked API key")

    async def read_only(request: Message, context: grpc.aio.ServicerContext) -> Message:
        raise ServiceError(grpc.StatusCode.PERMISSION_DENIED, "Remember writes, and this credential is read-only")

    face.server.scripts["Recall"] = unknown_key
    face.server.scripts["Remember"] = read_only
    refused = await face.http.post("/memory/search", json={"query": "x"})
    assert (refused.status, refused.headers["WWW-Authenticate"]) == (401, 'Bearer realm="cerebro"')
    denied = await face.http.post("/memory/action", json={"content": "x"})
    assert denied.status == 403
    assert (await denied.json())["message"] == "Remember writes, and this credential is read-only"


async def test_a_response_json_cannot_carry_is_500_in_the_apis_error_form(face: ScriptedFace) -> None:
    async def unwritable(request: Message, context: grpc.aio.ServicerContext) -> Message:
        return pb.RememberResponse(episode={"metadata": {"ratio": float("inf")}})  # JSON has no Infinity in a Struct

    face.server.scripts["Remember"] = unwritable
    response = await face.http.post("/memory/action", json={"content": "x"})
    assert response.status == 500
    assert await response.json() == {
        "code": grpc.StatusCode.INTERNAL.value[0],
        "message": "internal error",
        "details": [],
    }


async def test_an_unreachable_grpc_server_is_503() -> None:
    channel = loopback_channel(f"127.0.0.1:{free_port()}")
    table = build_route_table(SAMPLE_SERVICE)
    try:
        async with (
            running_transcoder(channel, table, SETTINGS, "127.0.0.1") as port,
            aiohttp.ClientSession() as http,
        ):
            response = await http.get(f"http://127.0.0.1:{port}/health")
            assert response.status == 503
            assert (await response.json())["code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    finally:
        await channel.close()


async def test_requests_are_counted_by_route_and_status(face: ScriptedFace) -> None:
    def count(route: str, status: str) -> float:
        value = REGISTRY.get_sample_value("cerebro_http_transcoder_requests_total", {"route": route, "status": status})
        return value or 0.0

    before = (count("GET /health", "200"), count("unmatched", "404"))
    await face.http.get("/health")
    await face.http.get("/nowhere")
    assert (count("GET /health", "200"), count("unmatched", "404")) == (before[0] + 1, before[1] + 1)
