"""examples/mcp_agent.py runs end to end, as its own process, against `cerebro up`: over stdio it starts
`cerebro mcp` itself (the `cerebro` on its PATH), over HTTP it connects to one serving."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.cerebro_up import ROOT, SharedUp
from tests.mcp.agents import Agent, http_server, new_agent

pytestmark = pytest.mark.e2e

EXAMPLE = ROOT / "examples" / "mcp_agent.py"


@pytest.fixture(scope="module")
async def agent(cerebro_up: SharedUp, tmp_path_factory: pytest.TempPathFactory) -> Agent:
    joined = new_agent(cerebro_up, tmp_path_factory.mktemp("mcp-example"), "mcpexample")
    async with joined.client() as client:
        await client.create_block("persona", "NEXUS: careful, curious, brief.", description="who the agent is")
    return joined


@asynccontextmanager
async def _served(transport: str, agent: Agent) -> AsyncIterator[Mapping[str, str]]:
    """The example's environment for ``transport`` (with the HTTP server running, for http)."""
    if transport == "stdio":
        yield {
            **agent.gateway_environ(),
            **agent.signing_environ(),
            "CEREBRO_API_KEY_FILE": str(agent.api_key_file),
        }
        return
    async with http_server({**agent.gateway_environ(), **agent.signing_environ()}) as server:
        yield {"CEREBRO_MCP_URL": server.url, "CEREBRO_API_KEY_FILE": str(agent.api_key_file)}


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_the_mcp_agent_runs_against_cerebro_up(transport: str, agent: Agent) -> None:
    async with _served(transport, agent) as served:
        environ = {key: value for key, value in os.environ.items() if not key.startswith("CEREBRO_")}
        environ.update(served, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLE),
            cwd=ROOT,
            env=environ,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert lines[0].startswith("tools: ") and "propose" in lines[0] and "recall" in lines[0]
    assert any(line.startswith("recalled (") and "reconnect backoff" in line for line in lines), lines
    assert any(
        line.startswith("refused as expected: Error executing tool remember: INVALID_ARGUMENT: content:")
        for line in lines
    ), lines
    assert "resource cerebro://blocks/persona: 31 characters" in lines
    assert any(line.startswith("block persona rewritten: version ") for line in lines), lines
    assert any(line.startswith("checkpoint ") and line.endswith(": continuity 1.00") for line in lines), lines
    assert lines[-1].startswith("proposal ") and "yes=1" in lines[-1], lines
