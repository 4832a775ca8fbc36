"""The HTTP/JSON face in front of the real gateway, with real memory and consensus services behind it.

The mesh is the gateway tests' own (tests.gateway.harness); only the embedding model is a double.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from schemathesis import GenerationMode

from services.gateway.http.gateway_api import openapi_document, route_table
from services.gateway.http.server import open_gateway_channel, running_http_face
from services.gateway.http.settings import HttpSettings
from services.gateway.store.credentials import Scope
from tests.consensus.harness import register
from tests.gateway.harness import Mesh
from tests.gateway.test_memory_api import DOCUMENT_004_ACTION
from tests.transcoding.fuzzing import fuzz, no_server_error_but_unavailable

FUZZ_EXAMPLES_PER_OPERATION = 15


@dataclass
class Face:
    http: aiohttp.ClientSession
    base_url: str


@pytest.fixture(scope="module")
async def face(mesh: Mesh) -> AsyncIterator[Face]:
    channel = open_gateway_channel(mesh.gateway.target, None, "localhost")
    settings = HttpSettings(port=0, max_body_bytes=1024 * 1024, default_timeout_seconds=10.0)
    try:
        async with running_http_face(channel, settings, "127.0.0.1") as port:
            base_url = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession(base_url) as http:
                yield Face(http, base_url)
    finally:
        await channel.close()


async def bearer(mesh: Mesh, namespace: str, **options: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {(await mesh.issue(namespace, **options)).token}"}


async def test_document_004s_action_is_remembered_and_found_over_http(
    mesh: Mesh,
    face: Face,
    namespace: str,
) -> None:
    agent = await bearer(mesh, namespace)
    remembered = await face.http.post("/memory/action", json=DOCUMENT_004_ACTION, headers=agent)
    assert remembered.status == 200, await remembered.text()
    episode = (await remembered.json())["episode"]
    assert episode["content"].startswith("system_optimization_complete: ")
    assert episode["metadata"]["action"]["action_details"]["performance_metrics"]["indices_created"] == 37
    assert episode["tags"] == DOCUMENT_004_ACTION["tags"]
    assert episode["namespace"] == namespace

    found = await face.http.post("/memory/search", json={"query": "PostgreSQL indices", "topK": 5}, headers=agent)
    assert [hit["episode"]["episodeId"] for hit in (await found.json())["hits"]] == [episode["episodeId"]]
    recent = await face.http.get("/memory/episodic/recent", params={"pageSize": "1"}, headers=agent)
    assert [e["episodeId"] for e in (await recent.json())["episodes"]] == [episode["episodeId"]]
    stats = await (await face.http.get("/stats", headers=agent)).json()
    assert stats["namespace"] == namespace
    assert stats["memory"]["episodesTotal"] == "1"  # int64: a string in proto3 JSON


async def test_working_memory_by_path(mesh: Mesh, face: Face, namespace: str) -> None:
    agent = await bearer(mesh, namespace)
    put = await face.http.put(
        "/memory/working", json={"item": {"contextType": "task", "content": {"step": 1}}}, headers=agent
    )
    assert put.status == 200, await put.text()
    item = (await put.json())["item"]
    got = await face.http.get(f"/memory/working/{item['itemId']}", headers=agent)
    assert (await got.json())["item"]["content"] == {"step": 1}
    missing = await face.http.get(f"/memory/working/{uuid.uuid4()}", headers=agent)
    assert missing.status == 404


async def test_the_gateways_own_refusals_reach_the_http_client(
    mesh: Mesh,
    face: Face,
    namespace: str,
) -> None:
    agent = await bearer(mesh, namespace)
    blank = await face.http.post("/memory/action", json={"content": "   "}, headers=agent)
    assert blank.status == 400
    (bad_request,) = (await blank.json())["details"]
    assert [violation["field"] for violation in bad_request["fieldViolations"]] == ["content"]
    health = await face.http.get("/health")
    assert health.status == 200
    assert {component["name"] for component in (await health.json())["components"]} >= {"memory", "consensus"}


async def test_remember_batch_over_http_is_all_or_nothing(mesh: Mesh, face: Face, namespace: str) -> None:
    agent = await bearer(mesh, namespace)
    turns = [{"content": f"turn {index}", "requestId": str(uuid.uuid4())} for index in range(20)]
    refused = await face.http.post(
        "/memory/action:batch", json={"episodes": [*turns[:17], {"content": " "}, *turns[18:]]}, headers=agent
    )
    assert refused.status == 400
    (bad_request,) = (await refused.json())["details"]
    assert [violation["field"] for violation in bad_request["fieldViolations"]] == ["episodes[17].content"]
    stored = await face.http.post("/memory/action:batch", json={"episodes": turns}, headers=agent)
    assert stored.status == 200
    assert [episode["content"] for episode in (await stored.json())["episodes"]] == [t["content"] for t in turns]
    recent = await face.http.get("/memory/episodic/recent?page_size=100", headers=agent)
    assert len((await recent.json())["episodes"]) == 20


async def test_missing_or_bad_credentials_are_401_and_read_only_writes_403(
    mesh: Mesh,
    face: Face,
    namespace: str,
) -> None:
    missing = await face.http.post("/memory/search", json={"query": "x"})
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="cerebro"'
    unknown = await face.http.post(
        "/memory/search", json={"query": "x"}, headers={"Authorization": f"Bearer crb_{'0' * 16}.{'A' * 43}"}
    )
    assert unknown.status == 401
    assert (await unknown.json())["message"] == "unknown or revoked API key"
    reader = await bearer(mesh, namespace, scope=Scope.READ_ONLY)
    assert (await face.http.post("/memory/search", json={"query": "x"}, headers=reader)).status == 200
    denied = await face.http.post("/memory/action", json={"content": "x"}, headers=reader)
    assert denied.status == 403


async def test_the_rate_limit_is_429_with_retry_after(mesh: Mesh, face: Face, namespace: str) -> None:
    agent = await bearer(mesh, namespace, rate_per_second=0.5, burst=1)
    assert (await face.http.get("/memory/identity", headers=agent)).status == 200
    limited = await face.http.get("/memory/identity", headers=agent)
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) in (1, 2)
    details = (await limited.json())["details"]
    assert details[0]["@type"] == "type.googleapis.com/google.rpc.RetryInfo"


async def test_learnings_stream_to_a_subscriber_as_json_lines(mesh: Mesh, face: Face) -> None:
    suffix = uuid.uuid4().hex[:6]
    publisher, subscriber = f"nexus-{suffix}", f"aria-{suffix}"
    nexus = await bearer(mesh, publisher)
    aria = await bearer(mesh, subscriber)
    stream = await face.http.get("/neural-mesh/cross-learning:subscribe", headers=aria)
    assert stream.status == 200
    assert stream.headers["Content-Type"] == "application/x-ndjson"
    try:
        connection = await mesh.admin()
        try:
            for _ in range(200):
                if await connection.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM gateway.learning_subscriptions WHERE namespace = $1)", subscriber
                ):
                    break
                await asyncio.sleep(0.02)
        finally:
            await connection.close()
        published = await face.http.post(
            "/neural-mesh/cross-learning",
            json={"learning": {"concept": "advisory locks", "definition": "serialise migrations", "confidence": 0.8}},
            headers=nexus,
        )
        assert published.status == 200, await published.text()
        line = json.loads(await asyncio.wait_for(stream.content.readline(), timeout=15))
        assert line["result"]["learning"]["concept"] == "advisory locks"
        assert line["result"]["learning"]["publisher"] == publisher
    finally:
        stream.close()


async def test_the_shared_emotional_state_streams_as_json_lines(mesh: Mesh, face: Face, namespace: str) -> None:
    agent = await bearer(mesh, namespace)
    shared = {"emotionalVector": {"focus": 0.25, "energy": 0.5, "excitement": 0.75}}
    assert (await face.http.post("/neural-mesh/emotional-sync", json=shared, headers=agent)).status == 200
    stream = await face.http.get("/neural-mesh/emotional-sync:watch", headers=agent)
    assert stream.status == 200
    assert stream.headers["Content-Type"] == "application/x-ndjson"
    try:
        first = json.loads(await asyncio.wait_for(stream.content.readline(), timeout=15))
        members = {member["namespace"]: member for member in first["result"]["state"]["members"]}
        assert members[namespace]["emotionalVector"]["focus"] == pytest.approx(0.25)
        shared["emotionalVector"]["focus"] = 0.5
        assert (await face.http.post("/neural-mesh/emotional-sync", json=shared, headers=agent)).status == 200
        changed = json.loads(await asyncio.wait_for(stream.content.readline(), timeout=15))
        members = {member["namespace"]: member for member in changed["result"]["state"]["members"]}
        assert members[namespace]["emotionalVector"]["focus"] == pytest.approx(0.5)
    finally:
        stream.close()


async def test_fuzzing_the_real_gateway_over_http_finds_no_server_error(
    mesh: Mesh,
    face: Face,
    namespace: str,
) -> None:
    agent = await bearer(mesh, namespace, instance_name=namespace.upper(), rate_per_second=100_000.0, burst=100_000)
    document = openapi_document(route_table())
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        calls = await asyncio.to_thread(
            fuzz,
            document,
            face.base_url,
            mode=mode,
            checks=[no_server_error_but_unavailable],
            examples_per_operation=FUZZ_EXAMPLES_PER_OPERATION,
            headers=agent,
            # Longer than the face's wait for a first event, so that idle streams start (200) before they end.
            stream_timeout="1500m",
        )
        assert calls > 100


async def test_a_nul_character_in_a_filter_is_a_client_error(mesh: Mesh, face: Face, namespace: str) -> None:
    agent = await bearer(mesh, namespace)
    response = await face.http.get("/neural-mesh/connected-agents", params={"region": "eu\x00"}, headers=agent)
    assert response.status == 400


async def test_recall_options_over_http(mesh: Mesh, face: Face, namespace: str) -> None:
    agent = await bearer(mesh, namespace)
    for index, text in enumerate(("the pager went off", "the disk filled up overnight", "we pruned old WAL files")):
        remembered = await face.http.post(
            "/memory/action",
            json={
                "action_type": "note",
                "action_details": {"text": text},
                "occur_time": f"2026-05-0{index + 1}T10:00:00Z",
            },
            headers=agent,
        )
        assert remembered.status == 200, await remembered.text()
    found = await face.http.post(
        "/memory/search",
        json={
            "query": "why did the disk fill?",
            "mode": "SEARCH_MODE_TEXT",
            "filter": {"startTime": "2026-05-02T00:00:00Z", "endTime": "2026-05-03T00:00:00Z"},
            "weighting": {"recencyWeight": 0.5, "recencyHalfLife": "86400s"},
            "contextWindow": 1,
        },
        headers=agent,
    )
    assert found.status == 200, await found.text()
    [hit] = (await found.json())["hits"]
    assert "disk filled" in hit["episode"]["content"]
    assert ["pager" in hit["context"][0]["content"], "pruned" in hit["context"][1]["content"]] == [True, True]
    refused = await face.http.post(
        "/memory/search", json={"query": "disk", "mode": "SEARCH_MODE_TEXT", "minScore": 0.7}, headers=agent
    )
    assert refused.status == 400
    assert (await refused.json())["details"][0]["fieldViolations"][0]["field"] == "min_score"


async def test_the_rest_of_the_memory_model_by_path(mesh: Mesh, face: Face, namespace: str) -> None:
    """Nested path variables, DELETE, and custom methods of the memory model's own methods over HTTP."""
    agent = await bearer(mesh, namespace)
    http = face.http

    async def ok(response: aiohttp.ClientResponse) -> dict[str, object]:
        assert response.status == 200, await response.text()
        body: dict[str, object] = await response.json()
        return body

    project = (await ok(await http.post("/memory/projects", json={"displayName": "by path"}, headers=agent)))["project"]
    assert isinstance(project, dict)
    archived = await ok(await http.post(f"/memory/projects/{project['projectId']}:archive", json={}, headers=agent))
    assert archived["project"]["status"] == "PROJECT_STATUS_ARCHIVED"  # type: ignore[index]
    listed = await ok(await http.get("/memory/projects", params={"status": "PROJECT_STATUS_ARCHIVED"}, headers=agent))
    assert [p["projectId"] for p in listed["projects"]] == [project["projectId"]]  # type: ignore[attr-defined]

    episode = (await ok(await http.post("/memory/action", json={"content": "draft", "tags": ["t"]}, headers=agent)))[
        "episode"
    ]
    assert isinstance(episode, dict)
    updated = await ok(
        await http.patch(
            f"/memory/episodic/{episode['episodeId']}",
            params={"updateMask": "content,tags"},
            json={"content": "final", "tags": ["t", "done"]},
            headers=agent,
        )
    )
    assert (updated["episode"]["content"], updated["episode"]["tags"]) == ("final", ["t", "done"])  # type: ignore[index]
    bad = await http.patch(
        f"/memory/episodic/{episode['episodeId']}", params={"updateMask": "occurTime"}, json={}, headers=agent
    )
    assert bad.status == 400
    assert [v["field"] for v in (await bad.json())["details"][0]["fieldViolations"]] == ["update_mask"]
    dry = await ok(await http.post("/memory/episodic:forget", json={"filter": {"tags": ["t"]}}, headers=agent))
    assert (dry["forgetCount"], dry["forgetSample"]) == ("1", [episode["episodeId"]])  # int64 is a JSON string
    assert (await http.delete(f"/memory/episodic/{episode['episodeId']}", headers=agent)).status == 200
    assert (await http.delete(f"/memory/episodic/{episode['episodeId']}", headers=agent)).status == 404

    knowledge = (
        await ok(await http.post("/memory/semantic", json={"knowledge": {"concept": "Quorum"}}, headers=agent))
    )["knowledge"]
    assert isinstance(knowledge, dict)
    looked = await ok(await http.get("/memory/semantic:lookup", params={"concept": "quorum"}, headers=agent))
    assert looked["knowledge"]["semanticMemoryId"] == knowledge["semanticMemoryId"]  # type: ignore[index]
    page = await ok(await http.get("/memory/semantic:list", params={"pageSize": "10"}, headers=agent))
    assert [k["semanticMemoryId"] for k in page["knowledge"]] == [knowledge["semanticMemoryId"]]  # type: ignore[attr-defined]
    got = await ok(await http.get(f"/memory/semantic/{knowledge['semanticMemoryId']}", headers=agent))
    assert got["knowledge"]["concept"] == "Quorum"  # type: ignore[index]
    assert (await http.delete(f"/memory/semantic/{knowledge['semanticMemoryId']}", headers=agent)).status == 200

    await ok(await http.post("/memory/blocks", json={"label": "persona", "value": "v1"}, headers=agent))
    revisions = await ok(await http.get("/memory/blocks/persona/revisions", headers=agent))
    assert [r["version"] for r in revisions["revisions"]] == ["1"]  # type: ignore[attr-defined]
    checkpoint = (
        await ok(
            await http.post("/memory/checkpoints", json={"checkpointType": "session", "stateData": {}}, headers=agent)
        )
    )["checkpoint"]
    assert isinstance(checkpoint, dict)
    checkpoints = await ok(await http.get("/memory/checkpoints", headers=agent))
    assert [c["checkpointId"] for c in checkpoints["checkpoints"]] == [checkpoint["checkpointId"]]  # type: ignore[attr-defined]
    await ok(await http.get(f"/memory/checkpoints/{checkpoint['checkpointId']}", headers=agent))

    item = (
        await ok(await http.put("/memory/working", json={"item": {"contextType": "t", "content": {}}}, headers=agent))
    )["item"]
    assert isinstance(item, dict)
    assert (await http.delete(f"/memory/working/{item['itemId']}", headers=agent)).status == 200
    assert (await http.get(f"/memory/working/{item['itemId']}", headers=agent)).status == 404


async def test_the_task_inbox_over_http(mesh: Mesh, face: Face) -> None:
    skill = f"http-{uuid.uuid4().hex[:6]}"
    worker = await register(mesh.consensus, f"agent-{uuid.uuid4().hex[:8]}", capabilities=[skill])
    assignee = await bearer(mesh, f"ns-{worker.name}", instance_name=worker.name)
    distributor = await bearer(mesh, f"distributor-{uuid.uuid4().hex[:6]}")
    stream = await face.http.get("/neural-mesh/tasks:watch", headers=assignee)
    assert stream.status == 200
    assert stream.headers["Content-Type"] == "application/x-ndjson"
    try:
        distributed = await face.http.post(
            "/neural-mesh/task-distribute",
            json={"description": "over HTTP", "requiredCapabilities": [skill]},
            headers=distributor,
        )
        assert distributed.status == 200, await distributed.text()
        task_id = (await distributed.json())["assignment"]["taskId"]
        # Tasks of other tests that asked for no capability may come to any agent: skip them.
        line = json.loads(await asyncio.wait_for(stream.content.readline(), timeout=15))
        while line["result"]["task"]["taskId"] != task_id:
            line = json.loads(await asyncio.wait_for(stream.content.readline(), timeout=15))
        assert line["result"]["task"]["state"] == "TASK_STATE_ASSIGNED"
        assert int(line["result"]["cursor"]) > 0  # int64 is a string in JSON
    finally:
        stream.close()

    early = await face.http.post(f"/neural-mesh/tasks/{task_id}:complete", json={}, headers=assignee)
    assert early.status == 400 and (await early.json())["code"] == 9  # FAILED_PRECONDITION
    acknowledged = await face.http.post(f"/neural-mesh/tasks/{task_id}:acknowledge", json={}, headers=assignee)
    assert (await acknowledged.json())["task"]["state"] == "TASK_STATE_ACKNOWLEDGED"
    completed = await face.http.post(
        f"/neural-mesh/tasks/{task_id}:complete", json={"result": {"rows": 3}}, headers=assignee
    )
    assert (await completed.json())["task"]["state"] == "TASK_STATE_SUCCEEDED"
    read = await face.http.get(f"/neural-mesh/tasks/{task_id}", headers=distributor)
    assert (await read.json())["task"]["result"] == {"rows": 3}
    listed = await face.http.get(
        "/neural-mesh/tasks", params={"distributed": "true", "states": "TASK_STATE_SUCCEEDED"}, headers=distributor
    )
    assert [task["taskId"] for task in (await listed.json())["tasks"]] == [task_id]
    stranger = await face.http.get(f"/neural-mesh/tasks/{task_id}", headers=await bearer(mesh, "stranger-ns"))
    assert stranger.status == 403
