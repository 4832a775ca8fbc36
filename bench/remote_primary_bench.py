"""The memory service far from the PostgreSQL primary: call latency with and without a local read replica.

    PYTHONPATH=. .venv/bin/python bench/remote_primary_bench.py [--one-way-ms 40] [--calls 200]

An embedded PostgreSQL (the primary) and a streaming replica of it (pg_basebackup, on loopback) run in a
temporary directory. Two memory services run as processes of their own, both reaching the primary
through a proxy in this process that delays every burst of bytes by ``--one-way-ms`` in each direction
(40 ms: 80 ms round trip, two continents apart): one reads from the primary too, the other reads from
the replica (CEREBRO_MEMORY_READ_DATABASE_URL), which is local. Each call is timed from this process
over gRPC on loopback, the two services in alternating blocks, and each write's read token is carried
to the reads that follow it, as the client does. The table gives p50 and p99 in milliseconds and the
p50 in round trips to the primary. Search is text-only (no embedder runs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import grpc

from bench.memory_bench import percentile, start
from cerebro.embedded import EmbeddedPostgres, EmbeddedStack
from cerebro.memory.v1 import episodes_pb2, memory_service_pb2_grpc, namespaces_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.read_tokens import REQUIRED_HEADER, WRITTEN_HEADER, ReadToken, header_token, later
from services.memory.db import migrate
from tests.support import free_port

NAMESPACE = "remote"
BLOCK = 20


class DelayedLink:
    """A loopback TCP proxy that delivers each burst of bytes ``delay`` seconds after it arrived, in order."""

    def __init__(self, target: tuple[str, int], delay: float) -> None:
        self._target = target
        self._delay = delay
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((time.monotonic() + self._delay, data))
                if not data:
                    break
            await delivering
        finally:
            delivering.cancel()


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{port}"))


@dataclass
class Service:
    name: str
    stub: memory_service_pb2_grpc.MemoryServiceStub
    token: ReadToken | None = None
    latencies: dict[str, list[float]] = field(default_factory=dict)

    async def timed(self, label: str, call: Callable[[tuple[tuple[str, str], ...]], Awaitable[object]]) -> object:
        metadata = () if self.token is None else ((REQUIRED_HEADER, str(self.token)),)
        started = time.perf_counter()
        outcome = await call(metadata)
        self.latencies.setdefault(label, []).append(time.perf_counter() - started)
        return outcome


async def run_block(service: Service, count: int) -> None:
    stub = service.stub
    for index in range(count):

        async def create(metadata: tuple[tuple[str, str], ...], index: int = index) -> pb.CreateEpisodeResponse:
            call = stub.CreateEpisode(
                pb.CreateEpisodeRequest(
                    namespace=NAMESPACE,
                    episode=episodes_pb2.Episode(content=f"remote primary benchmark episode {index} {uuid.uuid4()}"),
                ),
                metadata=metadata,
            )
            response = await call
            service.token = later(service.token, header_token(await call.trailing_metadata(), WRITTEN_HEADER))
            return response

        created = await service.timed("CreateEpisode", create)
        assert isinstance(created, pb.CreateEpisodeResponse)
        episode_id = created.episode.episode_id
        await service.timed(
            "GetEpisode (after the write)",
            lambda metadata, episode_id=episode_id: stub.GetEpisode(
                pb.GetEpisodeRequest(namespace=NAMESPACE, episode_id=episode_id), metadata=metadata
            ),
        )
        await service.timed(
            "ListEpisodes",
            lambda metadata: stub.ListEpisodes(
                pb.ListEpisodesRequest(namespace=NAMESPACE, page_size=10), metadata=metadata
            ),
        )
        await service.timed(
            "SearchEpisodes (text)",
            lambda metadata: stub.SearchEpisodes(
                pb.SearchEpisodesRequest(
                    namespace=NAMESPACE, query="benchmark episode", top_k=10, mode=episodes_pb2.SEARCH_MODE_TEXT
                ),
                metadata=metadata,
            ),
        )


@contextlib.asynccontextmanager
async def memory_service(name: str, database_url: str, read_url: str | None, logs: Path) -> AsyncIterator[Service]:
    port = free_port()
    environ = {
        **os.environ,
        "CEREBRO_BIND_HOST": "127.0.0.1",
        "CEREBRO_MEMORY_PORT": str(port),
        "CEREBRO_MEMORY_METRICS_PORT": "0",
        "CEREBRO_DATABASE_URL": database_url,
        "CEREBRO_MEMORY_DATABASE_ROLE": "cerebro_memory",
        "CEREBRO_MEMORY_APPLY_MIGRATIONS": "false",
        "CEREBRO_REGISTER": "false",
        "CEREBRO_EMBEDDER_TARGET": f"127.0.0.1:{free_port()}",
        **({"CEREBRO_MEMORY_READ_DATABASE_URL": read_url} if read_url else {}),
    }
    target = f"127.0.0.1:{port}"
    process = await asyncio.to_thread(start, ["services.memory.main"], environ, target, logs / f"{name}.log")
    channel = grpc.aio.insecure_channel(target)
    try:
        yield Service(name, memory_service_pb2_grpc.MemoryServiceStub(channel))
    finally:
        await channel.close()
        process.terminate()
        await asyncio.to_thread(process.wait, 30)


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="cerebro-remote-primary-"))
    try:
        await measure(args, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def measure(args: argparse.Namespace, data_dir: Path) -> None:
    with EmbeddedStack(data_dir / "stack") as stack:
        primary_url = stack.postgres.url_for("postgres")
        await migrate(primary_url)
        replica = EmbeddedPostgres(data_dir / "replica")
        replica.start_as_replica_of(stack.postgres)
        link = DelayedLink(("127.0.0.1", stack.postgres.port), args.one_way_ms / 1000)
        await link.start()
        logs = data_dir / "logs"
        logs.mkdir()
        try:
            async with (
                memory_service("primary-only", through(primary_url, link.port), None, logs) as remote,
                memory_service(
                    "with-replica", through(primary_url, link.port), replica.url_for("postgres"), logs
                ) as split,
            ):
                await remote.stub.CreateNamespace(
                    pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name=NAMESPACE))
                )
                for service in (remote, split):
                    await run_block(service, 3)  # warm-up: pools, prepared statements
                    service.latencies.clear()
                done = 0
                while done < args.calls:
                    for service in (remote, split):
                        await run_block(service, min(BLOCK, args.calls - done))
                    done += BLOCK
        finally:
            await link.stop()
            replica.stop()
    round_trip_ms = 2 * args.one_way_ms
    print(f"# The memory service {args.one_way_ms:g} ms one way ({round_trip_ms:g} ms round trip) from the primary")
    print()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores;"
        f" {args.calls} calls per method and service."
    )
    print()
    print(
        "| call | reads from the primary: p50 / p99 ms (p50 in round trips)"
        " | reads from a local replica: p50 / p99 ms (p50 in round trips) |"
    )
    print("|---|---|---|")
    for label in remote.latencies:
        cells = []
        for service in (remote, split):
            values = service.latencies[label]
            p50 = percentile(values, 0.5) * 1000
            cells.append(f"{p50:.1f} / {percentile(values, 0.99) * 1000:.1f} ({p50 / round_trip_ms:.2f})")
        print(f"| `{label}` | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one-way-ms", type=float, default=40.0)
    parser.add_argument("--calls", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
