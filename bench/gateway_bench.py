"""Gateway overhead: Remember and Recall through the gateway against the memory service called directly.

    PYTHONPATH=. .venv/bin/python bench/gateway_bench.py [--calls 400]

Runs a real `cerebro up` (embedded PostgreSQL and Redis, every service as its own process) on free
loopback ports in a temporary data directory, issues an API key, then measures, with 1 and 32 concurrent
clients: memory.CreateEpisode vs gateway.Remember, and memory.SearchEpisodes (hybrid) vs gateway.Recall.
Prints a markdown table of p50/p99 latencies and the p50 the gateway adds (goal: <= 1.5 ms on loopback),
and the CPU time the gateway process spent per call through it (user + system, from /proc): unlike
latencies, CPU time hardly moves when other work shares the machine, so it compares two versions of the
gateway measured at different times.

The direct CreateEpisode carries a request id, as the gateway's does (it adds one so that its retries
are safe). Direct and gateway calls alternate in blocks of `--block` calls, so both see the same
machine. The embeddings worker is paused (SIGSTOP) while measuring: otherwise the model, embedding
every episode just written, takes both cores at random moments (Recall's query embedding still runs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

import asyncpg
import grpc

from bench.overhead_table import Row, print_overhead_table
from cerebro.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from cerebro.memory.v1 import episodes_pb2, memory_service_pb2, memory_service_pb2_grpc
from cerebro.runtime.config import DEFAULT_PORTS
from cerebro.runtime.roles import Role, role_dns_name
from services.cli.serve import PROCESS_MODULES
from services.gateway.store.keys import issue_key
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "nexus"
Result = TypeVar("Result")


def start_mesh(
    data_dir: Path, settings: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """`cerebro up` on free ports, with only the CEREBRO_* ``settings`` given (none of this shell's)."""
    ports: dict[str, int] = {}
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CEREBRO_")}
    for name in PROCESS_MODULES:
        key = name.upper().replace("-", "_")
        if DEFAULT_PORTS[name][0] is not None:
            ports[name] = free_port()
            environ[f"CEREBRO_{key}_PORT"] = str(ports[name])
            environ[f"CEREBRO_{key}_TARGET"] = f"127.0.0.1:{ports[name]}"
        environ[f"CEREBRO_{key}_METRICS_PORT"] = str(free_port())
    environ.update(HF_HUB_OFFLINE="1", CEREBRO_LOG_LEVEL="WARNING", CEREBRO_GATEWAY_RATE_LIMIT_PER_SECOND="100000")
    environ["CEREBRO_GATEWAY_RATE_LIMIT_BURST"] = "100000"
    environ.update(settings or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "cerebro", "up", "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("Cerebro is up"):
            return process, ports
    raise SystemExit("cerebro up did not start")


def child_process(parent: int, process_name: str) -> int:
    """Pid of the `cerebro serve <process_name>` child of ``parent``."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent_pid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent_pid == parent and argv[-3:-1] == [b"serve", process_name.encode()]:
            return int(stat.parent.name)
    raise SystemExit(f"no {process_name} process under cerebro up")


async def new_token(data_dir: Path) -> str:
    connection = await asyncpg.connect((data_dir / "secrets" / "database_url").read_text())
    try:
        return (await issue_key(connection, NAMESPACE, label="bench")).token
    finally:
        await connection.close()


async def latencies(
    call: Callable[[int], Awaitable[object]], calls: int, clients: int, timings: list[float] | None = None
) -> list[float]:
    """Times ``calls`` calls made by ``clients`` concurrent clients, appended to ``timings``."""
    timings = [] if timings is None else timings
    counter = iter(range(calls))

    async def client() -> None:
        for index in counter:
            started = time.perf_counter()
            await call(index)
            timings.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(clients)))
    return timings


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def alternating(
    direct: Callable[[int], Awaitable[object]],
    through: Callable[[int], Awaitable[object]],
    calls: int,
    clients: int,
    block: int,
    gateway_pid: int,
) -> tuple[list[float], list[float], float]:
    """Direct and gateway latencies, and the gateway's CPU seconds per call through it."""
    direct_timings: list[float] = []
    through_timings: list[float] = []
    gateway_cpu = 0.0
    for _ in range(max(1, calls // block)):
        await latencies(direct, block, clients, direct_timings)
        before = cpu_seconds(gateway_pid)
        await latencies(through, block, clients, through_timings)
        gateway_cpu += cpu_seconds(gateway_pid) - before
    return direct_timings, through_timings, gateway_cpu / len(through_timings)


def memory_channel(data_dir: Path, port: int) -> grpc.aio.Channel:
    """The memory service speaks mutual TLS only: the bench calls it with the operator's certificate."""
    tls = data_dir / "tls"
    credentials = grpc.ssl_channel_credentials(
        (tls / "ca.crt").read_bytes(), (tls / "operator.key").read_bytes(), (tls / "operator.crt").read_bytes()
    )
    options = [("grpc.ssl_target_name_override", role_dns_name(Role.MEMORY))]
    return grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials, options=options)


async def measure(
    data_dir: Path, ports: dict[str, int], token: str, calls: int, block: int, gateway_pid: int
) -> list[Row]:
    auth = (("authorization", f"Bearer {token}"),)
    rows: list[Row] = []
    async with (
        memory_channel(data_dir, ports["memory"]) as direct_channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{ports['gateway']}") as gateway_channel,
    ):
        memory = memory_service_pb2_grpc.MemoryServiceStub(direct_channel)
        gateway = gateway_pb2_grpc.AgentGatewayStub(gateway_channel)

        async def direct_create(i: int) -> object:
            episode = episodes_pb2.Episode(content=f"direct episode {i} about the mesh")
            request = memory_service_pb2.CreateEpisodeRequest(
                namespace=NAMESPACE, episode=episode, request_id=str(uuid.uuid4())
            )
            return await memory.CreateEpisode(request)

        async def gateway_remember(i: int) -> object:
            return await gateway.Remember(gateway_pb2.RememberRequest(content=f"gateway episode {i}"), metadata=auth)

        async def direct_search(i: int) -> object:
            request = memory_service_pb2.SearchEpisodesRequest(namespace=NAMESPACE, query=f"mesh {i % 20}", top_k=10)
            return await memory.SearchEpisodes(request)

        async def gateway_recall(i: int) -> object:
            return await gateway.Recall(gateway_pb2.RecallRequest(query=f"mesh {i % 20}", top_k=10), metadata=auth)

        for name, direct, through in (
            ("Remember (CreateEpisode)", direct_create, gateway_remember),
            ("Recall (SearchEpisodes, hybrid)", direct_search, gateway_recall),
        ):
            for clients in (1, 32):
                await latencies(direct, 20, clients)  # warm-up: connections, caches, query plans
                await latencies(through, 20, clients)
                measured = await alternating(direct, through, calls, clients, max(block, clients), gateway_pid)
                rows.append((name, clients, *measured))
    return rows


def on_paused_mesh(measure: Callable[[Path, dict[str, int], str, int], Awaitable[Result]]) -> Result:
    """``measure(data_dir, ports, token, pid)`` run on a fresh `cerebro up` (process ``pid``) with an API key
    (``token``) of :data:`NAMESPACE`, its embeddings worker paused; the mesh is stopped and removed after."""
    data_dir = Path(tempfile.mkdtemp(prefix="cerebro-bench-"))
    data_dir.chmod(0o755)  # the embedded PostgreSQL runs as another user when we are root
    process, ports = start_mesh(data_dir)
    try:
        token = asyncio.run(new_token(data_dir))
        worker = child_process(process.pid, "embeddings-worker")
        os.kill(worker, signal.SIGSTOP)
        try:
            return asyncio.run(measure(data_dir, ports, token, process.pid))
        finally:
            os.kill(worker, signal.SIGCONT)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--block", type=int, default=20, help="calls per alternating block (at least the clients)")
    args = parser.parse_args()

    async def through_the_gateway(data_dir: Path, ports: dict[str, int], token: str, pid: int) -> list[Row]:
        return await measure(data_dir, ports, token, args.calls, args.block, child_process(pid, "gateway"))

    rows = on_paused_mesh(through_the_gateway)
    print(f"{args.calls} calls per cell; milliseconds.\n")
    print_overhead_table(rows, column="clients", layer="gateway", cpu="gateway CPU/call")


if __name__ == "__main__":
    main()
