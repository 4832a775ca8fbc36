"""What `cerebro mcp` adds: Remember and Recall as MCP tool calls (stdio and streamable HTTP) against the
same calls made with the Python client directly.

    PYTHONPATH=. .venv/bin/python bench/mcp_bench.py [--calls 200]

Runs a real `cerebro up` on free loopback ports in a temporary data directory (bench/gateway_bench.py's
mesh), issues an API key, starts `cerebro mcp` over stdio (through the SDK's client, as an MCP client
does) and over HTTP (holding no key; the SDK's client sends it as the bearer token), then alternates
blocks of direct and MCP calls, one client at a time, so both see the same machine. Prints a markdown
table of p50/p99 latencies, the p50 MCP adds, and the CPU time the `cerebro mcp` process spent per call
(user + system, from /proc), which moves less than latencies when other work shares the machine.
The embeddings worker is paused while measuring, as in the gateway bench.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from bench.gateway_bench import ROOT, alternating, on_paused_mesh
from bench.overhead_table import Row, print_overhead_table
from cerebro.client import AsyncCerebroClient, ClientSettings
from cerebro.memory.v1 import episodes_pb2
from tests.support import free_port

BANNER = "cerebro mcp: serving MCP at "


def _children_running_mcp(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent_pid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent_pid == parent and b"mcp" in argv:
            found.append(int(stat.parent.name))
    return found


@asynccontextmanager
async def over_stdio(target: str, token: str) -> AsyncIterator[tuple[Client, int]]:
    environ = {"CEREBRO_GATEWAY_TARGET": target, "CEREBRO_API_KEY": token}
    parameters = StdioServerParameters(command=sys.executable, args=["-m", "cerebro", "mcp"], env=environ, cwd=ROOT)
    async with Client(parameters) as client:
        [pid] = _children_running_mcp(os.getpid())
        yield client, pid


@asynccontextmanager
async def over_http(target: str, token: str) -> AsyncIterator[tuple[Client, int]]:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CEREBRO_")}
    environ["CEREBRO_GATEWAY_TARGET"] = target
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "cerebro", "mcp", "--transport", "http", "--port", str(port)),
        cwd=ROOT,
        env=environ,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    while not (line := (await process.stderr.readline()).decode()).startswith(BANNER):
        if not line:
            raise SystemExit("cerebro mcp --transport http did not start")
    url = line.removeprefix(BANNER).strip()
    draining = asyncio.create_task(process.stderr.read())
    try:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            yield client, process.pid
    finally:
        process.terminate()
        await process.wait()
        await draining


async def tool(client: Client, name: str, arguments: dict[str, object]) -> None:
    result = await client.call_tool(name, arguments)
    if result.is_error:
        raise SystemExit(f"{name} failed: {result.content}")


Call = Callable[[int], Awaitable[object]]


def cases(direct: AsyncCerebroClient, client: Client) -> list[tuple[str, Call, Call]]:
    """(name, the direct call, the same call as an MCP tool) for each measured call."""
    return [
        (
            "Remember",
            lambda i: direct.remember(f"direct episode {i} about the reconnect backoff"),
            lambda i: tool(client, "remember", {"content": f"mcp episode {i} about the reconnect backoff"}),
        ),
        (
            "Recall (text)",
            lambda i: direct.recall("reconnect backoff", mode=episodes_pb2.SEARCH_MODE_TEXT, top_k=5),
            lambda i: tool(client, "recall", {"query": "reconnect backoff", "mode": "text", "top_k": 5}),
        ),
    ]


async def measure(target: str, token: str, calls: int, block: int) -> list[Row]:
    rows: list[Row] = []
    settings = ClientSettings(target=target, api_key=token, timeout_seconds=60)
    async with AsyncCerebroClient(settings) as direct:
        for transport, connect in (("stdio", over_stdio), ("http", over_http)):
            async with connect(target, token) as (client, pid):
                for name, call_direct, call_mcp in cases(direct, client):
                    direct_times, mcp_times, cpu = await alternating(call_direct, call_mcp, calls, 1, block, pid)
                    rows.append((name, transport, direct_times, mcp_times, cpu))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--block", type=int, default=20, help="calls per alternating block")
    args = parser.parse_args()

    async def through_mcp(data_dir: Path, ports: dict[str, int], token: str, pid: int) -> list[Row]:
        return await measure(f"127.0.0.1:{ports['gateway']}", token, args.calls, args.block)

    rows = on_paused_mesh(through_mcp)
    print(f"{args.calls} calls per cell, one client; milliseconds.\n")
    print_overhead_table(rows, column="MCP transport", layer="MCP", cpu="`cerebro mcp` CPU/call")


if __name__ == "__main__":
    main()
