"""Memory service benchmark: writes, the embedding pipeline, hybrid search and HNSW recall; a markdown table.

    PYTHONPATH=. .venv/bin/python bench/memory_bench.py [--pipeline-episodes 10000] [--search-episodes 100000]
        [--text-episodes 100000] [--phases writes,text,pipeline,search] [--data-dir DIR]

Everything is real and on loopback: an embedded PostgreSQL 18 + pgvector and Redis (in a temporary data
directory), the Embedder (`cerebro serve embedder`, the real model), the memory service and the
embeddings worker, each its own process. The load comes from this process over gRPC. Texts follow
Zipf's law over a 50,000-word vocabulary (bench/zipf_text.py), so a query's words match as many
episodes as real words would.

1. CreateEpisode latency with 1 and 32 concurrent clients, and BatchCreateEpisodes episodes/s, before
   any embedding runs (those episodes are then deleted). CreateEpisode is measured side by side on two
   databases of the same server, each with its own memory service, both with every migration: one as
   it is, one without the triggers that keep the BM25 text statistics (migration 0006) on episodes, in
   alternating blocks, so the cost of keeping the statistics is a ratio measured in the same minutes.
2. Text search at `--text-episodes` (not embedded: writing them takes seconds, embedding them would
   take the model most of an hour): SearchEpisodes text-only latency and how many episodes match.
3. Pipeline: `--pipeline-episodes` episodes are written, the Embedder's raw EmbedBatch throughput is
   measured on the same texts (batches of 64, 2 calls in flight, as the worker sends them), then the
   worker starts and the time to 100% embedding coverage is measured.
4. Search: the `search` namespace is filled up to `--search-episodes` embedded episodes, then
   SearchEpisodes latency (hybrid, vector-only and text-only, top 10) for questions about stored
   episodes (some of their words, some others), how many episodes the questions' words match, and
   HNSW recall@10 against exact search on the same data (the service's HNSW settings against a
   sequential scan).

Filling 100,000 episodes takes most of the run (the model embeds every one). With `--data-dir` the
database is kept there and reused: a later `--phases search` run only tops the namespace up, so the
search can be measured again (say, after changing the HNSW settings) in minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import asyncpg
import grpc

from bench.zipf_text import ZipfText
from cerebro.embedded import EmbeddedStack
from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.healthcheck import is_serving
from cerebro.memory.v1 import (
    episodes_pb2,
    memory_service_pb2_grpc,
    namespaces_pb2,
)
from cerebro.memory.v1 import memory_service_pb2 as pb
from services.memory.db import migrate
from services.memory.store.search import candidate_count
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
# The database whose episodes keep no text statistics: every migration, then these triggers of 0006 dropped.
# (A schema cut at the migration before 0006 would not do: the service's code needs the later ones.)
BEFORE_DATABASE = "before_statistics"
STATISTICS_TRIGGERS = ("insert", "update", "delete", "truncate")
# CreateEpisode calls per block of the before/after alternation (at least one per client).
BLOCK = 64
BATCH = 1000
RAW_BATCH_TEXTS = 64
RAW_IN_FLIGHT = 2
WORKER_SETTLE_SECONDS = 2.0


def start(module_args: list[str], environ: dict[str, str], target: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        process = subprocess.Popen([sys.executable, "-m", *module_args], cwd=ROOT, env=environ, stderr=output)
    deadline = time.monotonic() + 300
    while not is_serving(target):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{' '.join(module_args)} did not start; see {log}")
        time.sleep(0.5)
    return process


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency_summary(latencies: list[float]) -> str:
    return f"p50 {percentile(latencies, 0.5) * 1000:.2f} ms, p99 {percentile(latencies, 0.99) * 1000:.2f} ms"


async def timed_calls(clients: int, calls_per_client: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    latencies: list[float] = []

    async def client() -> None:
        for _ in range(calls_per_client):
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


class Bench:
    def __init__(self, stub: memory_service_pb2_grpc.MemoryServiceStub, rng: random.Random) -> None:
        self.stub = stub
        self.rng = rng
        self.words = ZipfText()
        self.rows: list[tuple[str, str]] = []

    def text(self) -> str:
        return self.words.episode(self.rng)

    async def write(self, namespace: str, count: int) -> None:
        await self.write_texts(namespace, [self.text() for _ in range(count)])

    async def write_texts(self, namespace: str, texts: list[str]) -> None:
        for start_at in range(0, len(texts), BATCH):
            requests = [
                pb.CreateEpisodeRequest(episode=episodes_pb2.Episode(content=text, importance=self.rng.random()))
                for text in texts[start_at : start_at + BATCH]
            ]
            await self.stub.BatchCreateEpisodes(
                pb.BatchCreateEpisodesRequest(namespace=namespace, requests=requests), timeout=300
            )

    async def coverage_complete(self, namespace: str) -> None:
        while True:
            stats = await self.stub.GetStats(pb.GetStatsRequest(namespace=namespace))
            if stats.episodes_total and stats.episodes_embedded == stats.episodes_total:
                return
            await asyncio.sleep(0.2)


async def raw_embedder_rate(target: str, texts: list[str]) -> float:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        batches = [texts[index : index + RAW_BATCH_TEXTS] for index in range(0, len(texts), RAW_BATCH_TEXTS)]
        await stub.EmbedBatch(embedder_pb2.EmbedBatchRequest(texts=batches[0]), timeout=300)  # warm-up
        pending = list(reversed(batches))

        async def caller() -> None:
            while pending:
                await stub.EmbedBatch(embedder_pb2.EmbedBatchRequest(texts=pending.pop()), timeout=300)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(RAW_IN_FLIGHT)))
        return len(texts) / (time.perf_counter() - started)


def start_worker(environ: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    """The embeddings worker, returned once its metrics endpoint answers plus a moment to connect and LISTEN."""
    metrics_port = free_port()
    with (logs / "embeddings-worker.log").open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.memory.embeddings_worker"],
            cwd=ROOT,
            env={**environ, "CEREBRO_EMBEDDINGS_WORKER_METRICS_PORT": str(metrics_port)},
            stderr=output,
        )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as response:
                if b"embeddings_queue_depth" in response.read():
                    time.sleep(WORKER_SETTLE_SECONDS)
                    return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the embeddings worker did not start; see {logs}")
        time.sleep(0.2)


async def hnsw_recall(
    database_url: str, namespace: str, query_vectors: list[list[float]], ef_values: list[int]
) -> dict[int, tuple[float, float]]:
    """For each hnsw.ef_search: the share of the exact top 10 the index returns, and the query's median ms."""
    approximate_sql = (
        "SELECT episode_id FROM memory.episode_vectors WHERE namespace = $1 ORDER BY embedding <=> $2::vector LIMIT 10"
    )
    # `+ 0` makes the ordering one no index serves: a sequential scan and a sort, the exact answer.
    exact_sql = (
        "SELECT episode_id FROM memory.episode_vectors WHERE namespace = $1"
        " ORDER BY (embedding <=> $2::vector) + 0 LIMIT 10"
    )
    # No prepared-statement cache: a cached generic plan would ignore the settings below.
    connection = await asyncpg.connect(database_url, statement_cache_size=0)
    found = dict.fromkeys(ef_values, 0)
    timings: dict[int, list[float]] = {ef: [] for ef in ef_values}
    try:
        for vector in query_vectors:
            literal = "[" + ",".join(f"{value:.7f}" for value in vector) + "]"
            exact = {row[0] for row in await connection.fetch(exact_sql, namespace, literal)}
            for ef in ef_values:
                async with connection.transaction():
                    await connection.execute(f"SET LOCAL hnsw.ef_search = {ef}")
                    await connection.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                    started = time.perf_counter()
                    approximate = {row[0] for row in await connection.fetch(approximate_sql, namespace, literal)}
                    timings[ef].append(time.perf_counter() - started)
                found[ef] += len(approximate & exact)
    finally:
        await connection.close()
    return {ef: (found[ef] / (10 * len(query_vectors)), percentile(timings[ef], 0.5) * 1000) for ef in ef_values}


async def create_namespace(stub: memory_service_pb2_grpc.MemoryServiceStub, name: str) -> None:
    try:
        await stub.CreateNamespace(pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name=name)))
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:  # a kept --data-dir already has it
            raise


async def measure_writes(
    bench: Bench, before: memory_service_pb2_grpc.MemoryServiceStub, args: argparse.Namespace, stack: EmbeddedStack
) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []

    def create(stub: memory_service_pb2_grpc.MemoryServiceStub) -> Callable[[], Awaitable[object]]:
        return lambda: stub.CreateEpisode(
            pb.CreateEpisodeRequest(namespace="writes", episode=episodes_pb2.Episode(content=bench.text()))
        )

    for stub in (before, bench.stub):
        await timed_calls(1, 100, create(stub))  # warm-up
    for clients in (1, 32):
        # Alternating blocks: both databases see the same machine, whatever else runs on it.
        latencies: dict[str, list[float]] = {"before": [], "after": []}
        calls_per_client = max(1, BLOCK // clients)
        while len(latencies["after"]) < args.create_calls:
            for name, stub in (("before", before), ("after", bench.stub)):
                latencies[name] += await timed_calls(clients, calls_per_client, create(stub))
        plural = "s" if clients > 1 else ""
        rows.append(
            (f"CreateEpisode, {clients} client{plural}, without text statistics", latency_summary(latencies["before"]))
        )
        rows.append(
            (f"CreateEpisode, {clients} client{plural}, with text statistics", latency_summary(latencies["after"]))
        )
        ratio = percentile(latencies["after"], 0.5) / percentile(latencies["before"], 0.5)
        rows.append((f"CreateEpisode, {clients} client{plural}, p50 with / without statistics", f"{ratio:.3f}"))
    started = time.perf_counter()
    await bench.write("writes", args.batch_episodes)
    rows.append(
        (
            f"BatchCreateEpisodes ({BATCH} per call)",
            f"{args.batch_episodes / (time.perf_counter() - started):.0f} episodes/s",
        )
    )
    # No worker runs yet; these must not be embedded by a later phase.
    await delete_namespace_episodes(stack.database_url, "writes")
    return rows


async def measure_pipeline(
    bench: Bench,
    args: argparse.Namespace,
    environ: dict[str, str],
    embedder_target: str,
    logs: Path,
) -> tuple[list[tuple[str, str]], subprocess.Popen[bytes]]:
    """The pipeline rows, and the embeddings worker this started (still running)."""
    await delete_namespace_episodes(environ["CEREBRO_DATABASE_URL"], "pipeline")  # left by an earlier run on --data-dir
    texts = [bench.text() for _ in range(args.pipeline_episodes)]
    raw = await raw_embedder_rate(embedder_target, texts)
    worker = start_worker(environ, logs)
    # From the first write: the worker, already started and listening, embeds while episodes arrive.
    started = time.perf_counter()
    await bench.write_texts("pipeline", texts)
    await bench.coverage_complete("pipeline")
    pipeline = args.pipeline_episodes / (time.perf_counter() - started)
    rows = [
        (f"Embedder raw EmbedBatch throughput ({args.pipeline_episodes} texts)", f"{raw:.0f} texts/s"),
        (
            f"Time to 100% coverage, {args.pipeline_episodes} episodes",
            f"{args.pipeline_episodes / pipeline:.1f} s ({pipeline:.0f} episodes/s, {pipeline / raw:.0%} of raw)",
        ),
    ]
    return rows, worker


async def matching_row(database_url: str, namespace: str, queries: list[str], episodes: int) -> tuple[str, str]:
    matches = await matching_counts(database_url, namespace, queries)
    return (
        f"Episodes matching a question's words, {episodes} episodes",
        f"median {percentile(matches, 0.5):.0f}, 90th percentile {percentile(matches, 0.9):.0f}",
    )


async def measure_text_scale(bench: Bench, args: argparse.Namespace, stack: EmbeddedStack) -> list[tuple[str, str]]:
    """Text-only search at `--text-episodes`, written without embedding them: minutes instead of the model's hours.

    The text ranking does not read vectors, so its cost at that size is measured as it would be on a
    fully embedded namespace; hybrid adds the query's embedding (in parallel) and the HNSW ranking,
    measured by the search phase. The episodes are deleted afterwards (no worker may embed them).
    """
    print(f"writing {args.text_episodes} episodes for text search (not embedded)", file=sys.stderr)
    await delete_namespace_episodes(stack.database_url, "text-scale")
    await bench.write("text-scale", args.text_episodes)
    queries = await questions(stack.database_url, "text-scale", bench.words, args.queries)
    rows = [await matching_row(stack.database_url, "text-scale", queries, args.text_episodes)]
    pending = list(queries)

    def search() -> Awaitable[object]:
        return bench.stub.SearchEpisodes(
            pb.SearchEpisodesRequest(
                namespace="text-scale", query=pending.pop(), mode=episodes_pb2.SEARCH_MODE_TEXT, top_k=10
            )
        )

    await search()  # warm-up
    latencies = await timed_calls(1, len(pending), search)
    rows.append((f"SearchEpisodes text-only, {args.text_episodes} episodes (not embedded)", latency_summary(latencies)))
    await delete_namespace_episodes(stack.database_url, "text-scale")
    return rows


async def measure_search(
    bench: Bench, args: argparse.Namespace, stack: EmbeddedStack, embedder_target: str
) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    stats = await bench.stub.GetStats(pb.GetStatsRequest(namespace="search"))
    missing = max(0, args.search_episodes - stats.episodes_total)
    if missing:
        print(f"filling the search namespace: {missing} episodes to write and embed", file=sys.stderr)
    await bench.write("search", missing)
    await bench.coverage_complete("search")
    queries = await questions(stack.database_url, "search", bench.words, args.queries)
    rows.append(await matching_row(stack.database_url, "search", queries, args.search_episodes))
    for mode, label in (
        (episodes_pb2.SEARCH_MODE_HYBRID, "hybrid"),
        (episodes_pb2.SEARCH_MODE_VECTOR, "vector-only"),
        (episodes_pb2.SEARCH_MODE_TEXT, "text-only (no query embedding)"),
    ):
        pending = list(queries)

        def search(mode: int = mode, pending: list[str] = pending) -> Awaitable[object]:
            return bench.stub.SearchEpisodes(
                pb.SearchEpisodesRequest(namespace="search", query=pending.pop(), mode=mode, top_k=10)
            )

        await search()  # warm-up
        latencies = await timed_calls(1, len(pending), search)
        rows.append((f"SearchEpisodes {label}, {args.search_episodes} episodes", latency_summary(latencies)))
    async with grpc.aio.insecure_channel(embedder_target) as embedder_channel:
        embedder = embedder_pb2_grpc.EmbedderServiceStub(embedder_channel)
        vectors = [list((await embedder.Embed(embedder_pb2.EmbedRequest(text=query))).embedding) for query in queries]
    service_ef = candidate_count(10)
    sweep = await hnsw_recall(stack.database_url, "search", vectors, sorted({20, 40, service_ef, 100, 200}))
    for ef, (recall, milliseconds) in sweep.items():
        setting = " (the service's, top_k 10)" if ef == service_ef else ""
        rows.append(
            (
                f"HNSW recall@10 vs exact, {args.search_episodes} episodes, ef_search {ef}{setting}",
                f"{recall:.3f} (index query p50 {milliseconds:.2f} ms)",
            )
        )
    return rows


async def questions(database_url: str, namespace: str, words: ZipfText, count: int) -> list[str]:
    """Questions about stored episodes, the same ones whichever phases ran before (a fixed order and seed)."""
    admin = await asyncpg.connect(database_url)
    try:
        rows = await admin.fetch(
            "SELECT content FROM memory.episodes WHERE namespace = $1 ORDER BY md5(episode_id::text) LIMIT $2",
            namespace,
            count,
        )
    finally:
        await admin.close()
    rng = random.Random(7)
    return [words.question(rng, row["content"]) for row in rows]


async def matching_counts(database_url: str, namespace: str, queries: list[str]) -> list[float]:
    """How many episodes of the namespace contain any word of each question."""
    admin = await asyncpg.connect(database_url)
    try:
        return [
            await admin.fetchval(
                """SELECT count(*) FROM memory.episodes
                   WHERE namespace = $2
                     AND search_vector @@ (memory.prepare_text_query('episodes', $2, $1, '{}', '{}')).matching""",
                query,
                namespace,
            )
            for query in queries
        ]
    finally:
        await admin.close()


async def before_statistics_database(stack: EmbeddedStack) -> str:
    """A database of the same server with every migration but whose episodes keep no text statistics (made
    once, kept with --data-dir)."""
    admin = await asyncpg.connect(stack.database_url)
    try:
        if not await admin.fetchval("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", BEFORE_DATABASE):
            await admin.execute(f"CREATE DATABASE {BEFORE_DATABASE}")
    finally:
        await admin.close()
    url = stack.postgres.url_for(BEFORE_DATABASE)
    await migrate(url)
    connection = await asyncpg.connect(url)
    try:
        for event in STATISTICS_TRIGGERS:
            await connection.execute(f"DROP TRIGGER IF EXISTS episodes_text_statistics_{event} ON memory.episodes")
    finally:
        await connection.close()
    return url


async def delete_namespace_episodes(database_url: str, namespace: str) -> None:
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute("DELETE FROM memory.episodes WHERE namespace = $1", namespace)
    finally:
        await admin.close()


async def run(args: argparse.Namespace, stack: EmbeddedStack, logs: Path) -> list[tuple[str, str]]:
    ports = {name: free_port() for name in ("embedder", "memory", "memory-before")}
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CEREBRO_")}
    environ.update(
        PYTHONPATH=str(ROOT),
        CEREBRO_BIND_HOST="127.0.0.1",
        CEREBRO_LOG_LEVEL="WARNING",
        CEREBRO_DATABASE_URL=stack.database_url,
        CEREBRO_REDIS_URL=stack.redis_url,
        CEREBRO_EMBEDDER_PORT=str(ports["embedder"]),
        CEREBRO_EMBEDDER_TARGET=f"127.0.0.1:{ports['embedder']}",
        CEREBRO_MEMORY_PORT=str(ports["memory"]),
        CEREBRO_MEMORY_DATABASE_ROLE="cerebro_memory",
        CEREBRO_EMBEDDINGS_WORKER_DATABASE_ROLE="cerebro_memory_worker",
        CEREBRO_EMBEDDER_METRICS_PORT="0",
        CEREBRO_MEMORY_METRICS_PORT="0",
    )
    embedder_target = f"127.0.0.1:{ports['embedder']}"
    processes = [
        start(["cerebro", "serve", "embedder"], environ, embedder_target, logs / "embedder.log"),
        start(["services.memory.main"], environ, f"127.0.0.1:{ports['memory']}", logs / "memory.log"),
    ]
    if "writes" in args.phases:
        before_environ = {
            **environ,
            "CEREBRO_DATABASE_URL": await before_statistics_database(stack),
            "CEREBRO_MEMORY_PORT": str(ports["memory-before"]),
            "CEREBRO_MEMORY_APPLY_MIGRATIONS": "false",
            # That schema has nothing to fold.
            "CEREBRO_MEMORY_TEXT_STATISTICS_FOLD_SECONDS": "3600",
        }
        before_target = f"127.0.0.1:{ports['memory-before']}"
        processes.append(start(["services.memory.main"], before_environ, before_target, logs / "memory-before.log"))
    rows: list[tuple[str, str]] = []
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports['memory']}") as channel:
            bench = Bench(memory_service_pb2_grpc.MemoryServiceStub(channel), random.Random(3))
            for name in ("writes", "text-scale", "pipeline", "search"):
                await create_namespace(bench.stub, name)

            if "writes" in args.phases:
                async with grpc.aio.insecure_channel(before_target) as before_channel:
                    before = memory_service_pb2_grpc.MemoryServiceStub(before_channel)
                    await create_namespace(before, "writes")
                    rows += await measure_writes(bench, before, args, stack)
            if "text" in args.phases:
                rows += await measure_text_scale(bench, args, stack)
            if "pipeline" in args.phases:
                pipeline_rows, worker = await measure_pipeline(bench, args, environ, embedder_target, logs)
                processes.append(worker)
                rows += pipeline_rows
            if "search" in args.phases:
                if "pipeline" not in args.phases:
                    processes.append(start_worker(environ, logs))
                rows += await measure_search(bench, args, stack, embedder_target)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=60)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline-episodes", type=int, default=10_000)
    parser.add_argument("--search-episodes", type=int, default=100_000)
    parser.add_argument("--text-episodes", type=int, default=100_000)
    parser.add_argument("--create-calls", type=int, default=2_000)
    parser.add_argument("--batch-episodes", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--phases",
        type=lambda value: set(value.split(",")),
        default={"writes", "text", "pipeline", "search"},
        help="comma-separated subset of writes,text,pipeline,search (default: all)",
    )
    parser.add_argument("--data-dir", type=Path, help="keep the database here and reuse it (default: a temporary one)")
    args = parser.parse_args()
    if unknown := args.phases - {"writes", "text", "pipeline", "search"}:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    with contextlib.ExitStack() as cleanup:
        directory = args.data_dir or Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cerebro-bench-")))
        logs = directory / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with EmbeddedStack(directory / "data") as stack:
            rows = asyncio.run(run(args, stack, logs))
    machine = platform.processor() or platform.machine()
    print(f"Machine: {machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("\n| measurement | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
