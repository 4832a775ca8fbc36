"""Embedder throughput over gRPC against in-process batched encoding, per backend; a markdown table.

    PYTHONPATH=. .venv/bin/python bench/embedder_grpc.py [--runs 3]

For each backend, a real embedder process (`cerebro serve embedder`) is started on a free loopback port.
Each workload is measured three ways, each the median of `--runs` timed rounds after a warm-up:
in-process `Encoder.encode_texts` on the whole batch (the machine's limit: one process, full batches),
then 1 and 16 concurrent gRPC clients each sending one text per `Embed` call. The ratio column is the
16-client throughput over the in-process one (goal: >= 0.85).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import grpc

from bench.embedder_inprocess import make_text
from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.healthcheck import is_serving
from services.embedder.model import Backend, Encoder
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]


def workloads(seed: int = 11) -> dict[str, list[str]]:
    rng = random.Random(seed)
    return {
        "short (10-30 words)": [make_text(rng, rng.randint(10, 30)) for _ in range(256)],
        "long (~1,000 words)": [make_text(rng, 1000) for _ in range(16)],
    }


def start_server(backend: Backend) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    environ = dict(
        os.environ,
        CEREBRO_HOST="127.0.0.1",
        CEREBRO_EMBEDDER_PORT=str(port),
        CEREBRO_EMBEDDER_METRICS_PORT=str(free_port()),
        CEREBRO_EMBEDDER_BACKEND=backend.value,
        CEREBRO_LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "cerebro", "serve", "embedder"], env=environ, cwd=ROOT, stderr=subprocess.DEVNULL
    )
    target = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while not is_serving(target):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"embedder ({backend.value}) did not start")
        time.sleep(0.5)
    return process, target


def median_rate(count: int, run: Callable[[], object], runs: int) -> float:
    run()  # warm-up
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return count / statistics.median(timings)


async def grpc_round(stub: embedder_pb2_grpc.EmbedderServiceStub, texts: list[str], clients: int) -> None:
    queue = list(reversed(texts))

    async def client() -> None:
        while queue:
            await stub.Embed(embedder_pb2.EmbedRequest(text=queue.pop()), timeout=300)

    await asyncio.gather(*(client() for _ in range(clients)))


def grpc_rate(target: str, texts: list[str], clients: int, runs: int) -> float:
    async def measure() -> float:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
            round_: Callable[[], Awaitable[None]] = lambda: grpc_round(stub, texts, clients)  # noqa: E731
            await round_()
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                await round_()
                timings.append(time.perf_counter() - started)
            return len(texts) / statistics.median(timings)

    return asyncio.run(measure())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"Texts per second, median of {args.runs} rounds.\n")
    print("| backend | texts | in-process batched | gRPC, 1 client | gRPC, 16 clients | 16 clients / in-process |")
    print("|---|---|---:|---:|---:|---:|")
    loads = workloads()
    for backend in Backend:
        process, target = start_server(backend)
        try:
            encoder = Encoder(backend)
            for name, texts in loads.items():
                inprocess = median_rate(len(texts), lambda: encoder.encode_texts(texts), args.runs)
                single = grpc_rate(target, texts, 1, args.runs)
                sixteen = grpc_rate(target, texts, 16, args.runs)
                print(
                    f"| {backend.value} | {name} | {inprocess:.1f} | {single:.1f} | {sixteen:.1f} "
                    f"| {sixteen / inprocess:.2f} |",
                    flush=True,
                )
            del encoder
        finally:
            process.terminate()
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
