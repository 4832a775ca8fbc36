"""An agent that reaches its Cerebro memory through the Model Context Protocol, with the official SDK's client.

It starts `cerebro mcp` over stdio, as a desktop or IDE agent's MCP configuration does, or connects to a
`cerebro mcp --transport http` already serving (CEREBRO_MCP_URL), and walks the tools and resources:
remember → recall → recent episodes → memory blocks (tools and resources) → checkpoint and restore →
learning → propose/vote/decision (when the server has the agent's signing key).

    CEREBRO_API_KEY_FILE=~/.cerebro/secrets/nexus_api_key python examples/mcp_agent.py
    CEREBRO_MCP_URL=http://127.0.0.1:8090/mcp CEREBRO_API_KEY_FILE=... python examples/mcp_agent.py

Settings: over stdio, what `cerebro mcp` reads (CEREBRO_GATEWAY_TARGET, CEREBRO_API_KEY(_FILE), and
CEREBRO_AGENT_KEY_FILE with CEREBRO_AGENT_INSTANCE_ID to propose and vote); over HTTP, CEREBRO_MCP_URL, the
API key sent as the bearer token (CEREBRO_API_KEY or CEREBRO_API_KEY_FILE) and CEREBRO_MCP_CA_FILE to
trust an HTTPS server's certificate.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextResourceContents

# What an MCP client's configuration passes to `cerebro mcp` over stdio (the SDK adds only a safe base).
PASSED_TO_THE_SERVER = (
    "CEREBRO_GATEWAY_TARGET",
    "CEREBRO_API_KEY",
    "CEREBRO_API_KEY_FILE",
    "CEREBRO_AGENT_KEY_FILE",
    "CEREBRO_AGENT_INSTANCE_ID",
    "CEREBRO_TLS_CA_FILE",
    "CEREBRO_TLS_CERT_FILE",
    "CEREBRO_TLS_KEY_FILE",
    "CEREBRO_CLIENT_TIMEOUT_SECONDS",
)


class ToolFailed(Exception):
    pass


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result: CallToolResult = await client.call_tool(tool, arguments)
    if result.is_error:
        # The SDK's text names the tool: "Error executing tool remember: INVALID_ARGUMENT: content: ...".
        raise ToolFailed(" ".join(getattr(item, "text", "") for item in result.content))
    assert result.structured_content is not None
    return result.structured_content


async def agent_session(client: Client) -> None:
    tools = {tool.name for tool in (await client.list_tools()).tools}
    print(f"tools: {', '.join(sorted(tools))}")

    # 1. Remember, then recall by words and meaning, and list what is recent.
    session = f"session-{uuid.uuid4().hex[:8]}"
    remembered = await call(
        client, "remember", {"content": "Tuned the reconnect backoff: 2s doubling to 30s", "tags": ["ops", session]}
    )
    print(f"remembered {remembered['episode']['episode_id']}")
    recalled = await call(client, "recall", {"query": "reconnect backoff", "tags": [session], "top_k": 3})
    for hit in recalled.get("hits", []):
        print(f"recalled ({hit['fused_score']:.3f}): {hit['episode']['content']}")
    recent = await call(client, "recent_episodes", {"page_size": 5})
    print(f"recent episodes: {len(recent.get('episodes', []))}")

    # 2. A bad argument is a tool error naming it, never a traceback.
    try:
        await call(client, "remember", {"content": ""})
    except ToolFailed as error:
        print(f"refused as expected: {error}")

    # 3. Memory blocks: as tools, and as resources cerebro://blocks/<label>.
    blocks = (await call(client, "list_blocks", {})).get("blocks", [])
    print(f"blocks: {', '.join(block['label'] for block in blocks) or '-'}")
    for resource in (await client.list_resources()).resources:
        read = await client.read_resource(resource.uri)
        text = "".join(item.text for item in read.contents if isinstance(item, TextResourceContents))
        print(f"resource {resource.uri}: {len(text)} characters")
    if blocks:
        block = blocks[0]
        updated = await call(
            client,
            "update_block",
            {"label": block["label"], "value": block.get("value", ""), "expected_version": int(block["version"])},
        )
        print(f"block {block['label']} rewritten: version {updated['block']['version']}")

    # 4. Checkpoint the session, and share what was learned.
    checkpoint = await call(client, "checkpoint", {"checkpoint_type": "session", "state_data": {"focus": "backoff"}})
    checkpoint_id = checkpoint["checkpoint"]["checkpoint_id"]
    restored = await call(client, "restore_checkpoint", {"checkpoint_id": checkpoint_id})
    print(f"checkpoint {checkpoint_id}: continuity {restored.get('continuity_score', 0.0):.2f}")
    learning = await call(client, "publish_learning", {"concept": "reconnect backoff", "definition": "2s to 30s"})
    print(f"learning published to {learning.get('recipient_count', 0)} instances")

    # 5. A decision, signed by the agent: offered when the server has its key.
    if "propose" in tools:
        proposal = (await call(client, "propose", {"topic": "Adopt the tuned reconnect backoff everywhere?"}))[
            "proposal"
        ]
        await call(client, "vote", {"proposal_id": proposal["proposal_id"], "choice": "yes"})
        decided = (await call(client, "get_decision", {"proposal_id": proposal["proposal_id"]}))["proposal"]
        tally = ", ".join(f"{entry['option']}={entry.get('votes', 0)}" for entry in decided.get("tally", []))
        print(f"proposal {decided['proposal_id']}: {decided['state']} ({tally})")


def _api_key() -> str:
    if key_file := os.environ.get("CEREBRO_API_KEY_FILE"):
        return Path(key_file).expanduser().read_text().strip()
    key = os.environ.get("CEREBRO_API_KEY")
    if not key:
        raise SystemExit("set CEREBRO_API_KEY_FILE or CEREBRO_API_KEY")
    return key


@asynccontextmanager
async def connected() -> AsyncIterator[Client]:
    url = os.environ.get("CEREBRO_MCP_URL")
    if url is None:
        environ = {name: os.environ[name] for name in PASSED_TO_THE_SERVER if name in os.environ}
        async with Client(StdioServerParameters(command="cerebro", args=["mcp"], env=environ)) as client:
            yield client
        return
    ca_file = os.environ.get("CEREBRO_MCP_CA_FILE")
    trust = ssl.create_default_context(cafile=ca_file) if ca_file else True
    headers = {"Authorization": f"Bearer {_api_key()}"}
    async with (
        httpx2.AsyncClient(headers=headers, verify=trust, timeout=httpx2.Timeout(30, read=300)) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


async def main() -> int:
    try:
        async with connected() as client:
            await agent_session(client)
    except ToolFailed as error:
        print(json.dumps({"error": str(error)}), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
