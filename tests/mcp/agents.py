"""Agents of the shared `cerebro up` for the MCP tests: keys as the operator issues them, `cerebro mcp` as an
MCP client starts it (over stdio) or as a deployment runs it (over HTTP), and the SDK's client to it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from cerebro.client import AsyncCerebroClient, ClientSettings
from tests.cerebro_up import ROOT, SharedUp
from tests.support import free_port

STARTUP_SECONDS = 120
BANNER = "cerebro mcp: serving MCP at "


def _environ_without_cerebro() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("CEREBRO_")}


def admin(up: SharedUp, *argv: str, environ: Mapping[str, str] | None = None) -> str:
    """A `cerebro` command as the operator (or the agent) runs it; its output."""
    env = _environ_without_cerebro()
    env["CEREBRO_DATABASE_URL_FILE"] = str(up.data_dir / "secrets" / "database_url")
    env.update(environ or {})
    done = subprocess.run(
        [sys.executable, "-m", "cerebro", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@dataclass(frozen=True)
class Agent:
    """An agent of the shared `cerebro up`: its namespace, API key file, and (once joined) signing identity."""

    up: SharedUp
    name: str
    namespace: str
    api_key_file: Path
    key_file: Path
    instance_id: str

    @property
    def target(self) -> str:
        return self.up.ports["CEREBRO_GATEWAY_TARGET"]

    @property
    def capability(self) -> str:
        return f"inbox_{self.namespace}"

    @property
    def api_key(self) -> str:
        return self.api_key_file.read_text().strip()

    def client(self) -> AsyncCerebroClient:
        return AsyncCerebroClient(ClientSettings(target=self.target, api_key=self.api_key, timeout_seconds=60))

    def gateway_environ(self) -> dict[str, str]:
        return {"CEREBRO_GATEWAY_TARGET": self.target, "CEREBRO_CLIENT_TIMEOUT_SECONDS": "60"}

    def signing_environ(self) -> dict[str, str]:
        return {"CEREBRO_AGENT_KEY_FILE": str(self.key_file), "CEREBRO_AGENT_INSTANCE_ID": self.instance_id}


# (cerebro up, name) of every voter enrolled here: revoked when the package ends (tests/mcp/conftest.py).
ENROLLED: list[tuple[SharedUp, str]] = []


def new_agent(up: SharedUp, directory: Path, prefix: str) -> Agent:
    """The README's path for an agent: a key bound to its name, its enrolled voting key, `cerebro join`
    (with a capability of its own, so that a task requiring it is distributed to this agent)."""
    suffix = uuid.uuid4().hex[:8]
    name, namespace = f"{prefix.upper()}-{suffix}", f"{prefix}-{suffix}"
    directory.mkdir(parents=True, exist_ok=True)
    api_key_file, key_file = directory / f"{namespace}.key", directory / f"{name}.pem"
    admin(up, "keys", "issue", namespace, "--instance", name, "--token-file", str(api_key_file))
    public_key = directory / f"{name}.pub"
    public_key.write_text(admin(up, "instances", "public-key", "--key-file", str(key_file)))
    admin(up, "instances", "enroll", name, "--public-key", str(public_key), "--voting")
    ENROLLED.append((up, name))
    agent = Agent(up, name, namespace, api_key_file, key_file, "")
    return replace(agent, instance_id=join(agent))


def join(agent: Agent) -> str:
    """`cerebro join` (again: the same id, a fresh lease); the instance id."""
    joined = admin(
        agent.up,
        "join",
        agent.name,
        "--key-file",
        str(agent.key_file),
        "--capability",
        agent.capability,
        environ={"CEREBRO_GATEWAY_TARGET": agent.target, "CEREBRO_API_KEY_FILE": str(agent.api_key_file)},
    )
    return next(
        line.split("=", 1)[1] for line in joined.splitlines() if line.startswith("export CEREBRO_AGENT_INSTANCE_ID=")
    )


def stdio_server(environ: Mapping[str, str], *argv: str) -> StdioServerParameters:
    """`cerebro mcp` as an MCP client's configuration starts it (the SDK adds only a safe base environment)."""
    return StdioServerParameters(
        command=sys.executable, args=["-m", "cerebro", "mcp", *argv], env=dict(environ), cwd=str(ROOT)
    )


@dataclass(frozen=True)
class HttpServer:
    url: str
    process: asyncio.subprocess.Process


@asynccontextmanager
async def http_server(environ: Mapping[str, str], *argv: str) -> AsyncIterator[HttpServer]:
    """`cerebro mcp --transport http` on a free loopback port, until the block ends (then SIGTERM)."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cerebro",
        "mcp",
        "--transport",
        "http",
        "--port",
        str(port),
        *argv,
        cwd=ROOT,
        env={**_environ_without_cerebro(), **environ},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    url = await asyncio.wait_for(_served_url(process.stderr), STARTUP_SECONDS)
    # Whatever it logs afterwards is read, so that a full pipe never blocks it.
    draining = asyncio.create_task(process.stderr.read())
    try:
        yield HttpServer(url, process)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
        await draining


async def _served_url(stderr: asyncio.StreamReader) -> str:
    """The URL of the banner line, or what the process said before it ended without one."""
    said: list[str] = []
    while line := (await stderr.readline()).decode():
        if line.startswith(BANNER):
            return line.removeprefix(BANNER).strip()
        said.append(line)
    raise AssertionError("cerebro mcp ended before serving:\n" + "".join(said))


# Shaped like an API key, so that it reaches the gateway, which knows no such key.
MADE_UP_KEY = "crb_0123456789abcdef." + "A" * 43

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


async def initialize_from(url: str, address: str, api_key: str) -> int:
    """The HTTP status of an MCP `initialize` sent to ``url`` from the loopback ``address`` with ``api_key``."""
    transport = httpx2.AsyncHTTPTransport(local_address=address)
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {api_key}"}
    async with httpx2.AsyncClient(transport=transport, timeout=60) as client:
        return (await client.post(url, json=INITIALIZE, headers=headers)).status_code


@asynccontextmanager
async def http_client(url: str, api_key: str | None) -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP, connected, with ``api_key`` as its bearer token."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key is not None else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60, read=300)) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client
