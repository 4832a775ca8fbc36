"""`cerebro mcp` end to end: the SDK's own client, over stdio and streamable HTTP, against `cerebro up`.

Each transport serves the same agent (its own namespace, API key and signing key): over stdio the server
is started with the agent's key, as an MCP client's configuration starts it; over HTTP it holds no key
and every request brings the agent's as its bearer token. What the tools did is checked through the
gateway with the ordinary client.
"""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextResourceContents

from cerebro.memory.v1 import episodes_pb2
from cerebro.runtime.mesh_ca import MeshAuthority
from cerebro.runtime.roles import Role
from tests.cerebro_up import SharedUp
from tests.mcp.agents import (
    INITIALIZE,
    MADE_UP_KEY,
    Agent,
    HttpServer,
    admin,
    http_client,
    http_server,
    initialize_from,
    join,
    new_agent,
    stdio_server,
)

pytestmark = pytest.mark.e2e

TRANSPORTS = ["stdio", "http"]
TOOLS = {
    "remember",
    "recall",
    "recent_episodes",
    "list_blocks",
    "get_block",
    "update_block",
    "checkpoint",
    "restore_checkpoint",
    "get_decision",
    "publish_learning",
    "propose",
    "vote",
    "list_tasks",
    "get_task",
    "acknowledge_task",
    "report_task_progress",
    "complete_task",
    "fail_task",
}


@pytest.fixture(scope="module")
def agent(cerebro_up: SharedUp, tmp_path_factory: pytest.TempPathFactory) -> Agent:
    return new_agent(cerebro_up, tmp_path_factory.mktemp("mcp-agents"), "mcp")


@pytest.fixture(scope="module")
async def block_label(agent: Agent) -> str:
    label = f"mission_{uuid.uuid4().hex[:6]}"
    async with agent.client() as client:
        await client.create_block(label, "Keep the mesh healthy.", description="what the agent is for")
    return label


@pytest.fixture(scope="module")
async def http(agent: Agent) -> AsyncIterator[HttpServer]:
    # No API key in its environment: only the agent's signing identity, for propose and vote.
    async with http_server({**agent.gateway_environ(), **agent.signing_environ()}) as server:
        yield server


def connect(transport: str, agent: Agent, http: HttpServer) -> AbstractAsyncContextManager[Client]:
    if transport == "stdio":
        environ = {
            **agent.gateway_environ(),
            **agent.signing_environ(),
            "CEREBRO_API_KEY_FILE": str(agent.api_key_file),
        }
        return Client(stdio_server(environ))
    return http_client(http.url, agent.api_key)


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    text = " ".join(getattr(item, "text", "") for item in result.content)
    assert "Traceback" not in text
    return text


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_tools_are_listed(transport: str, agent: Agent, http: HttpServer) -> None:
    async with connect(transport, agent, http) as client:
        listed = await client.list_tools()
    assert {tool.name for tool in listed.tools} == TOOLS
    recall = next(tool for tool in listed.tools if tool.name == "recall")
    assert {"query", "tags", "since", "until", "min_score", "top_k", "mode"} <= set(recall.input_schema["properties"])
    assert recall.annotations is not None and recall.annotations.read_only_hint


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_what_is_remembered_is_recalled(transport: str, agent: Agent, http: HttpServer) -> None:
    marker = f"marker{uuid.uuid4().hex[:10]}"
    async with connect(transport, agent, http) as client:
        remembered = structured(
            await client.call_tool(
                "remember",
                {"content": f"Over {transport} the agent tuned the reconnect backoff ({marker})", "tags": [marker]},
            )
        )
        episode_id = remembered["episode"]["episode_id"]
        recalled = structured(
            await client.call_tool("recall", {"query": marker, "mode": "text", "tags": [marker], "top_k": 5})
        )
        future = structured(
            await client.call_tool("recall", {"query": marker, "mode": "text", "since": "2999-01-01T00:00:00Z"})
        )
        recent = structured(await client.call_tool("recent_episodes", {"tags": [marker]}))
    assert [hit["episode"]["episode_id"] for hit in recalled["hits"]] == [episode_id]
    assert future.get("hits", []) == []
    assert [episode["episode_id"] for episode in recent["episodes"]] == [episode_id]
    # Through the gateway, as the agent's own key sees it: the episode is in the agent's namespace.
    async with agent.client() as gateway:
        found = await gateway.recall(marker, mode=episodes_pb2.SEARCH_MODE_TEXT, top_k=5)
    assert [hit.episode.episode_id for hit in found.hits] == [episode_id]
    assert found.hits[0].episode.namespace == agent.namespace


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_bad_arguments_are_tool_errors_naming_the_argument(
    transport: str, agent: Agent, http: HttpServer
) -> None:
    async with connect(transport, agent, http) as client:
        # The gateway's field violations, named as the tool's arguments are (checkpoint.checkpoint_type).
        empty = error_text(await client.call_tool("remember", {"content": ""}))
        checkpoint = error_text(await client.call_tool("checkpoint", {"checkpoint_type": "", "state_data": {}}))
        importance = error_text(await client.call_tool("remember", {"content": "x", "importance": 7}))
        # Arguments of the wrong type never reach the gateway.
        top_k = error_text(await client.call_tool("recall", {"query": "x", "top_k": "many"}))
        missing = error_text(await client.call_tool("get_block", {"label": f"absent_{uuid.uuid4().hex[:6]}"}))
    assert "INVALID_ARGUMENT: content:" in empty
    assert "INVALID_ARGUMENT: checkpoint_type:" in checkpoint
    assert "INVALID_ARGUMENT: importance:" in importance
    assert "top_k" in top_k
    assert "NOT_FOUND" in missing


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_memory_blocks_are_resources(transport: str, agent: Agent, http: HttpServer, block_label: str) -> None:
    uri = f"cerebro://blocks/{block_label}"
    value = f"Keep the mesh healthy over {transport}."
    async with connect(transport, agent, http) as client:
        listed = await client.list_resources()
        templates = await client.list_resource_templates()
        updated = structured(await client.call_tool("update_block", {"label": block_label, "value": value}))
        read = await client.read_resource(uri)
    assert uri in {str(resource.uri) for resource in listed.resources}
    assert [template.uri_template for template in templates.resource_templates] == ["cerebro://blocks/{label}"]
    assert updated["block"]["value"] == value
    [contents] = read.contents
    assert isinstance(contents, TextResourceContents) and contents.text == value


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_checkpoint_is_restored(transport: str, agent: Agent, http: HttpServer) -> None:
    state = {"focus": f"the {transport} backoff", "open_questions": ["why 30s?"]}
    async with connect(transport, agent, http) as client:
        saved = structured(await client.call_tool("checkpoint", {"checkpoint_type": "session", "state_data": state}))
        checkpoint_id = saved["checkpoint"]["checkpoint_id"]
        restored = structured(await client.call_tool("restore_checkpoint", {"checkpoint_id": checkpoint_id}))
        missing = error_text(await client.call_tool("restore_checkpoint", {"checkpoint_id": str(uuid.uuid4())}))
    assert restored["checkpoint"]["checkpoint_id"] == checkpoint_id
    assert restored["checkpoint"]["state_data"] == state
    assert "NOT_FOUND" in missing


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_proposals_are_signed_by_the_agent(transport: str, agent: Agent, http: HttpServer) -> None:
    async with connect(transport, agent, http) as client:
        proposed = structured(await client.call_tool("propose", {"topic": f"Adopt the {transport} backoff?"}))
        proposal_id = proposed["proposal"]["proposal_id"]
        structured(await client.call_tool("vote", {"proposal_id": proposal_id, "choice": "yes"}))
        decision = structured(await client.call_tool("get_decision", {"proposal_id": proposal_id}))
        learning = structured(
            await client.call_tool("publish_learning", {"concept": f"{transport} backoff", "definition": "2s to 30s"})
        )
    assert decision["proposal"]["proposer_id"] == agent.instance_id
    assert {"option": "yes", "votes": 1} in decision["proposal"]["tally"]
    assert learning["learning"]["concept"] == f"{transport} backoff"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_task_inbox(transport: str, agent: Agent, http: HttpServer) -> None:
    join(agent)  # a fresh lease: only an active instance is given tasks
    async with agent.client() as distributor:
        done = await distributor.distribute_task(
            f"Summarise the {transport} incident", required_capabilities=[agent.capability]
        )
        failed = await distributor.distribute_task(
            f"Page the {transport} on-call", required_capabilities=[agent.capability]
        )
    task_id, other_id = done.assignment.task_id, failed.assignment.task_id
    async with connect(transport, agent, http) as client:
        inbox = structured(await client.call_tool("list_tasks", {"states": ["assigned"]}))
        acknowledged = structured(await client.call_tool("acknowledge_task", {"task_id": task_id}))
        progressed = structured(
            await client.call_tool(
                "report_task_progress", {"task_id": task_id, "progress": 0.5, "status_message": "reading"}
            )
        )
        too_far = error_text(await client.call_tool("report_task_progress", {"task_id": task_id, "progress": 2}))
        structured(await client.call_tool("complete_task", {"task_id": task_id, "result": {"summary": "all fine"}}))
        structured(await client.call_tool("acknowledge_task", {"task_id": other_id}))
        structured(await client.call_tool("fail_task", {"task_id": other_id, "error_message": "no pager"}))
        completed = structured(await client.call_tool("get_task", {"task_id": task_id}))
        gave_up = structured(await client.call_tool("get_task", {"task_id": other_id}))
        unknown_state = error_text(await client.call_tool("list_tasks", {"states": ["sleeping"]}))
    assert {task_id, other_id} <= {task["task_id"] for task in inbox["tasks"]}
    assert acknowledged["task"]["state"] == "TASK_STATE_ACKNOWLEDGED"
    assert progressed["task"]["progress"] == 0.5
    assert "INVALID_ARGUMENT: progress:" in too_far
    assert completed["task"]["state"] == "TASK_STATE_SUCCEEDED"
    assert completed["task"]["result"] == {"summary": "all fine"}
    assert gave_up["task"]["state"] == "TASK_STATE_FAILED" and gave_up["task"]["error_message"] == "no pager"
    assert "states" in unknown_state


async def test_a_request_without_a_key_the_gateway_accepts_is_refused(http: HttpServer, agent: Agent) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(timeout=60) as raw:
        for authorization in (None, "Bearer not-a-cerebro-key", f"Basic {agent.api_key}"):
            sent = {**headers, **({"Authorization": authorization} if authorization else {})}
            response = await raw.post(http.url, json=INITIALIZE, headers=sent)
            assert response.status_code == 401, (authorization, response.text)
            assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
        opened = await raw.post(
            http.url, json=INITIALIZE, headers={**headers, "Authorization": f"Bearer {agent.api_key}"}
        )
    assert opened.status_code == 200, opened.text
    # The SDK's own client gets the refusal as its error, and nothing from the server.
    with pytest.RaisesGroup(MCPError, flatten_subgroups=True):
        async with http_client(http.url, "not-a-cerebro-key") as client:
            await client.list_tools()


async def test_cerebro_up_gives_the_mcp_face_its_gateways_forwarding_proof(agent: Agent, cerebro_up: SharedUp) -> None:
    """`cerebro up` keeps the gateway's forwarding proof in its secrets: an MCP face given that file names
    each agent's address, so one agent's bad keys lock only that agent out, not the face's other agents."""
    proof_file = cerebro_up.data_dir / "secrets" / "gateway_forwarding_proof"
    assert proof_file.stat().st_mode & 0o777 == 0o600
    environ = {**agent.gateway_environ(), "CEREBRO_MCP_FORWARDING_PROOF_FILE": str(proof_file)}
    async with http_server(environ) as face:
        # The shared gateway allows 20 failures per address (CEREBRO_GATEWAY_AUTH_FAILURE_BURST), then 429.
        guessing = [await initialize_from(face.url, "127.0.0.77", MADE_UP_KEY) for _ in range(25)]
        assert 429 in guessing and guessing.index(429) >= 20, guessing
        assert await initialize_from(face.url, "127.0.0.78", agent.api_key) == 200


async def test_a_session_belongs_to_the_key_that_opened_it(
    http: HttpServer, agent: Agent, cerebro_up: SharedUp, tmp_path: Path
) -> None:
    other = new_agent(cerebro_up, tmp_path, "mcpother")
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {agent.api_key}"}
    async with httpx2.AsyncClient(timeout=60) as raw:
        opened = await raw.post(http.url, json=INITIALIZE, headers=headers)
        session = opened.headers["mcp-session-id"]
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        taken = await raw.post(
            http.url,
            json=listing,
            headers={**headers, "Authorization": f"Bearer {other.api_key}", "mcp-session-id": session},
        )
    assert taken.status_code == 404, taken.text


async def test_a_key_revoked_mid_session_gets_nothing_done(http: HttpServer, cerebro_up: SharedUp) -> None:
    # The face admits a key it checked for a while; the gateway still checks it on every call.
    issued = json.loads(admin(cerebro_up, "keys", "--json", "issue", f"mcprevoked-{uuid.uuid4().hex[:8]}"))
    async with http_client(http.url, issued["token"]) as client:
        before = await client.call_tool("remember", {"content": "remembered before the revocation"})
        admin(cerebro_up, "keys", "revoke", issued["key_id"])
        after = await client.call_tool("remember", {"content": "remembered after the revocation"})
    assert not before.is_error, before.content
    assert "UNAUTHENTICATED" in error_text(after)


async def test_https_with_the_given_certificate(agent: Agent, tmp_path: Path) -> None:
    authority = MeshAuthority.load_or_create(tmp_path / "tls")
    certificate = authority.issue(Role.GATEWAY, "mcp")
    environ = agent.gateway_environ()
    argv = ("--tls-cert-file", str(certificate.cert_file), "--tls-key-file", str(certificate.key_file))
    async with http_server(environ, *argv) as server:
        assert server.url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(authority.ca_file))
        headers = {"Authorization": f"Bearer {agent.api_key}"}
        async with (
            httpx2.AsyncClient(headers=headers, verify=trust, timeout=60) as https,
            _client_over(server.url, https) as client,
        ):
            listed = await client.list_tools()
        async with httpx2.AsyncClient(timeout=10) as untrusting:
            with pytest.raises(httpx2.ConnectError):
                await untrusting.post(server.url, json={})
    # Without the agent's signing key, propose and vote are not offered.
    assert {tool.name for tool in listed.tools} == TOOLS - {"propose", "vote"}


@asynccontextmanager
async def _client_over(url: str, http: httpx2.AsyncClient) -> AsyncIterator[Client]:
    from mcp.client.streamable_http import streamable_http_client

    async with Client(streamable_http_client(url, http_client=http)) as client:
        yield client


async def test_http_answers_503_while_the_gateway_is_down(tmp_path: Path) -> None:
    # Nothing listens on port 1: the key cannot be checked, which is not the caller's fault.
    unreachable = {"CEREBRO_GATEWAY_TARGET": "127.0.0.1:1", "CEREBRO_CLIENT_TIMEOUT_SECONDS": "1"}
    async with http_server(unreachable) as server, httpx2.AsyncClient(timeout=60) as raw:
        response = await raw.post(server.url, json={}, headers={"Authorization": "Bearer some-key"})
    assert response.status_code == 503, response.text
    body = json.loads(response.text)
    assert body["error"] == "temporarily_unavailable"
    assert body["error_description"].startswith("the gateway could not check the API key: ")
