"""Embedder throughput over gRPC against in-process encoding, per backend, side by side; a markdown table.

    PYTHONPATH=. .venv/bin/python bench/embedder_grpc.py [--backends onnx onnx-int8] [--rounds 5]
        [--workloads short long] [--baseline-tree DIR] [--server-env NAME=VALUE ...]

For each backend, a real embedder process (`cerebro serve embedder`) is started on a free loopback port; with
`--baseline-tree DIR` (e.g. `git archive main | tar -x -C DIR`) a second one runs that tree's code, so
before and after are measured in the same run. Each round measures, back to back: in-process
`Encoder.encode_texts` on the whole workload (this process, full batches: the machine's limit), then 16
concurrent gRPC clients and 1 client, each client sending one text per `Embed` call. Rounds alternate
between the servers, and every figure is the median over rounds; the ratio is the median of each round's
16-client rate over the same round's in-process rate, so slow phases of a shared machine cancel out
(goal: >= 0.85). The 1-client columns give a lone caller's latency (p50 of its calls). The CPU time per
text of the in-process Encoder, of the server process (every thread, from /proc) and of the 16 clients
(this process) says what each text costs, which other load on the machine hardly moves; the CPU ratio,
in-process CPU per text over server + clients CPU per text, is the 16-client ratio the service would
reach if it kept the cores as busy as the in-process Encoder does.
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
from dataclasses import dataclass, field
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
        "short": [make_text(rng, rng.randint(10, 30)) for _ in range(256)],
        "long": [make_text(rng, 1000) for _ in range(16)],
    }


WORKLOAD_TITLES = {"short": "short (10-30 words)", "long": "long (~1,000 words)"}


@dataclass
class Server:
    label: str
    backend: Backend
    target: str
    process: subprocess.Popen[bytes]
    rates: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def start_server(label: str, backend: Backend, tree: Path, extra_env: dict[str, str], cache_dir: Path) -> Server:
    port = free_port()
    environ = dict(
        os.environ,
        CEREBRO_BIND_HOST="127.0.0.1",
        CEREBRO_EMBEDDER_PORT=str(port),
        CEREBRO_EMBEDDER_METRICS_PORT=str(free_port()),
        CEREBRO_EMBEDDER_BACKEND=backend.value,
        CEREBRO_EMBEDDER_CACHE_DIR=str(cache_dir),
        CEREBRO_REGISTER="false",
        CEREBRO_LOG_LEVEL="WARNING",
        # The tree's own code comes first on the path (the editable install's finder comes after it).
        PYTHONPATH=str(tree),
        **extra_env,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "cerebro", "serve", "embedder"], env=environ, cwd=tree, stderr=subprocess.DEVNULL
    )
    target = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while not is_serving(target):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"embedder {label} did not start")
        time.sleep(0.5)
    return Server(label, backend, target, process)


async def grpc_round(target: str, texts: list[str], clients: int) -> tuple[float, float]:
    """Texts per second, and the p50 latency of one call in milliseconds."""
    queue = list(reversed(texts))
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        await stub.Embed(embedder_pb2.EmbedRequest(text="warm up the channel"), timeout=300)

        async def client() -> None:
            while queue:
                started = time.perf_counter()
                await stub.Embed(embedder_pb2.EmbedRequest(text=queue.pop()), timeout=300)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return len(texts) / elapsed, statistics.median(latencies) * 1000


def has_int8(tree: Path) -> bool:
    return Backend.ONNX_INT8.value in (tree / "services" / "embedder" / "model.py").read_text(encoding="utf-8")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def inprocess_rate(encoder: Encoder, texts: list[str]) -> float:
    started = time.perf_counter()
    encoder.encode_texts(texts)
    return len(texts) / (time.perf_counter() - started)


def measure_round(server: Server, encoder: Encoder, name: str, texts: list[str]) -> None:
    keys = (
        "inprocess",
        "inprocess_cpu",
        "sixteen",
        "ratio",
        "server_cpu",
        "clients_cpu",
        "cpu_ratio",
        "one",
        "one_p50",
    )
    cells = server.rates.setdefault(name, {key: [] for key in keys})
    cpu = time.process_time()
    inprocess = inprocess_rate(encoder, texts)
    inprocess_cpu = (time.process_time() - cpu) * 1000 / len(texts)
    cpu, clients_cpu = cpu_seconds(server.process.pid), time.process_time()
    sixteen, _ = asyncio.run(grpc_round(server.target, texts, 16))
    server_cpu = (cpu_seconds(server.process.pid) - cpu) * 1000 / len(texts)
    clients_cpu = (time.process_time() - clients_cpu) * 1000 / len(texts)
    one, one_p50 = asyncio.run(grpc_round(server.target, texts[: max(16, len(texts) // 4)], 1))
    for key, value in (
        ("inprocess", inprocess),
        ("inprocess_cpu", inprocess_cpu),
        ("sixteen", sixteen),
        ("ratio", sixteen / inprocess),
        ("server_cpu", server_cpu),
        ("clients_cpu", clients_cpu),
        ("cpu_ratio", inprocess_cpu / (server_cpu + clients_cpu)),
        ("one", one),
        ("one_p50", one_p50),
    ):
        cells[key].append(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["onnx", "onnx-int8"], choices=[b.value for b in Backend])
    parser.add_argument("--workloads", nargs="+", default=["short"], choices=list(WORKLOAD_TITLES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-tree", type=Path, help="also run this source tree's embedder (before/after)")
    parser.add_argument(
        "--server-env", nargs="*", default=[], metavar="NAME=VALUE", help="extra environment of this tree's servers"
    )
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cerebro" / "embedder")
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.server_env)

    loads = {name: texts for name, texts in workloads().items() if name in args.workloads}
    trees = [("this tree", ROOT, extra_env)]
    if args.baseline_tree:
        trees.insert(0, ("baseline", args.baseline_tree.resolve(), {}))
    servers: list[Server] = []
    encoders: dict[Backend, Encoder] = {}
    try:
        for backend in map(Backend, args.backends):
            for label, tree, environ in trees:
                if label == "baseline" and backend is Backend.ONNX_INT8 and not has_int8(tree):
                    continue  # a tree from before the int8 backend has none
                servers.append(start_server(label, backend, tree, environ, args.cache_dir))
            encoders[backend] = Encoder(backend, cache_dir=args.cache_dir)
            if encoders[backend].backend is not backend:
                raise SystemExit(f"the {backend} backend fell back to {encoders[backend].backend}; see the log")
        for server in servers:  # warm-up round, not counted
            for texts in loads.values():
                encoders[server.backend].encode_texts(texts)
                asyncio.run(grpc_round(server.target, texts[:32], 16))
        for _ in range(args.rounds):
            for server in servers:
                for name, texts in loads.items():
                    measure_round(server, encoders[server.backend], name, texts)
    finally:
        for server in servers:
            server.process.terminate()
            server.process.wait(timeout=60)

    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"Texts per second, medians of {args.rounds} rounds; load average at the end {os.getloadavg()[0]:.1f}.\n")
    print(
        "| server | backend | texts | in-process batched | gRPC, 16 clients | 16 clients / in-process "
        "| gRPC, 1 client | 1 client p50 (ms) | CPU ms/text: in-process; 16 clients: server, clients | CPU ratio |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for server in servers:
        for name, cells in server.rates.items():
            median = {key: statistics.median(values) for key, values in cells.items()}
            print(
                f"| {server.label} | {server.backend.value} | {WORKLOAD_TITLES[name]} | {median['inprocess']:.1f} "
                f"| {median['sixteen']:.1f} | {median['ratio']:.2f} | {median['one']:.1f} | {median['one_p50']:.2f} "
                f"| {median['inprocess_cpu']:.2f}; {median['server_cpu']:.2f}, {median['clients_cpu']:.2f} "
                f"| {median['cpu_ratio']:.2f} |"
            )


if __name__ == "__main__":
    main()
