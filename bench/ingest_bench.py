"""Remember-to-searchable throughput through the gateway, against the model's own speed on the same texts.

    PYTHONPATH=. .venv/bin/python bench/ingest_bench.py [--episodes 5000] [--clients 16]
        [--modes remember,batch] [--batch-size 100] [--texts FILE] [--background-episodes 100000] [--data-dir DIR]

Runs a real `cerebro up` (embedded PostgreSQL and Redis, every service its own process) on free loopback
ports in a temporary data directory and issues an API key per measured namespace. For each mode:

1. In-process `Encoder` throughput (services/embedder, the backend the embedder serves, its cached
   graph) on the same texts, in batches of the worker's size (64), one after the other: what the model
   can do on this machine now; and the embedder service alone, sent the same batches two at a time
   as the worker sends them (its process's CPU per text tells the service's cost from the model's).
2. `--clients` concurrent clients write every text through the gateway: `remember` sends one `Remember`
   per text, `batch` sends `RememberBatch` calls of `--batch-size` texts. From the first write to the
   moment the namespace's embedding coverage (the gateway's `GetStats`, polled every 0.25 s) reaches
   100 %: episodes/s, and its ratio to the Encoder's rate (measured before and after the run; their mean);
   and the CPU time each process of the mesh and the clients used per episode meanwhile (from /proc),
   which shows where the cores went and hardly moves with other load on the machine. The CPU ratio (the
   Encoder's CPU per text over the whole pipeline's per episode) is the ratio the pipeline would reach
   if it kept the cores as busy as the Encoder does: the wall-clock ratio's ceiling on a quiet machine.

The texts are dialogue turns of 10-40 words (generated, seeded), or the lines of `--texts FILE` (plain
text, or JSONL with a "content" field; never committed). `--background-episodes N` first fills another
namespace with N embedded episodes (the HNSW index then holds them all, as beside a real agent's memory).
Filling 100,000 embeds every one of them (30-60 minutes on 2 cores): with `--data-dir DIR` the mesh's data
is kept there and reused, so a later run only tops the background namespace up to N. Each run measures in
namespaces of its own; those of earlier runs stay in the kept database (a few thousand episodes beside N).
A copy of bench/memory_bench.py's kept database (the `data/` folder of its --data-dir, 100,000 embedded
episodes in its `search` namespace) serves as well without --background-episodes: the run reports how many
embedded episodes the database held beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import asyncpg
import grpc
from tqdm import tqdm

from bench.gateway_bench import start_mesh
from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from cerebro.runtime.roles import Role, role_dns_name
from services.embedder.model import DEFAULT_BACKEND, Backend, Encoder
from services.gateway.store.keys import issue_key

WORKER_BATCH = 64  # CEREBRO_EMBEDDINGS_WORKER_BATCH_SIZE's default
WORKER_CONCURRENCY = 2  # CEREBRO_EMBEDDINGS_WORKER_CONCURRENCY's default
POLL_SECONDS = 0.25
MODES = ("remember", "batch")
SHOWN_PARTS = ("gateway", "memory", "embeddings-worker", "embedder", "postgres", "redis-server")

SPEAKERS = ("user", "assistant", "NEXUS", "ARIA", "Dana", "Omar")
OPENERS = (
    "I think",
    "Can you check whether",
    "It looks like",
    "Yesterday we noticed that",
    "Remember that",
    "Please make sure",
    "As far as I can tell",
    "The logs show that",
    "We agreed that",
    "Just to confirm,",
)
SUBJECTS = (
    "the staging cluster",
    "the nightly backup",
    "our customer in Berlin",
    "the payment service",
    "the new onboarding flow",
    "the search index",
    "the release candidate",
    "the replica in the second region",
    "the marketing dashboard",
    "the billing export",
    "my calendar for next week",
    "the design review",
    "the mobile app",
    "the data pipeline",
)
PREDICATES = (
    "failed twice after the disk filled up",
    "is slower than it was last month",
    "should be ready before the Friday demo",
    "needs another review from the security team",
    "was rolled back because of a timeout",
    "keeps sending duplicate notifications",
    "finally passed all the integration tests",
    "uses far more memory than we planned",
    "has to move to the larger instance",
    "lost a few records during the migration",
    "is blocked on a decision about pricing",
    "was approved by the legal department",
)
FOLLOW_UPS = (
    "Let me know what you find.",
    "I will write a summary for the team tomorrow morning.",
    "Could you add this to the weekly report so nobody forgets?",
    "That matches what the monitoring alerts said overnight.",
    "We should ask the owner before changing anything.",
    "Thanks, that saves us a lot of time.",
    "I am not sure this is the root cause, though.",
    "Keep an eye on the error rate after the deploy.",
    "The previous attempt took almost three hours.",
    "Maybe we can automate the whole check next quarter.",
)


def dialogue_turns(count: int, seed: int = 17, low: int = 10, high: int = 40) -> list[str]:
    """``count`` chat turns of ``low``-``high`` words: a speaker, then a statement and follow-ups."""
    rng = random.Random(seed)
    turns = []
    while len(turns) < count:
        words = f"{rng.choice(OPENERS)} {rng.choice(SUBJECTS)} {rng.choice(PREDICATES)}.".split()
        target = rng.randint(low, high)
        while len(words) < target:
            words += rng.choice((*FOLLOW_UPS, f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(PREDICATES)}.")).split()
        turns.append(f"{rng.choice(SPEAKERS)}: {' '.join(words[:target])}")
    return turns


def read_texts(path: Path, count: int) -> list[str]:
    """Up to ``count`` texts from ``path``: JSONL objects with "content", or one plain text a line."""
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            texts.append(str(json.loads(line)["content"]))
        else:
            texts.append(line.strip())
        if len(texts) == count:
            break
    return texts


def process_cpu(roots: Sequence[int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each part of the mesh: the processes under ``roots``."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    seconds: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        names[pid] = part_name(argv)
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    # Each process once: the roots, then their descendants (a root's children join when the root is visited).
    pending = [root for root in roots if root in names]
    while pending:
        pid = pending.pop()
        pending += children.get(pid, [])
        totals[names[pid]] = totals.get(names[pid], 0.0) + seconds[pid]
    return totals


def part_name(argv: list[bytes]) -> str:
    if b"serve" in argv:
        return argv[argv.index(b"serve") + 1].decode()
    program = Path(argv[0].decode(errors="replace")).name
    return "postgres" if program.startswith("postgres") else program.split()[0] if program else "other"


@dataclass(frozen=True)
class EncoderRun:
    rate: float  # texts per second
    cpu_ms: float  # CPU milliseconds per text, every thread of this process


def encoder_rate(encoder: Encoder, texts: Sequence[str]) -> EncoderRun:
    """Throughput of ``encoder`` on ``texts``, in the worker's batches, one after the other."""
    encoder.encode_texts(texts[:WORKER_BATCH])  # warm-up
    started, cpu_started = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), WORKER_BATCH):
        encoder.encode_texts(texts[start : start + WORKER_BATCH])
    cpu = time.process_time() - cpu_started
    return EncoderRun(len(texts) / (time.perf_counter() - started), cpu * 1000 / len(texts))


def embedder_channel(data_dir: Path, port: int) -> grpc.aio.Channel:
    """The embedder speaks mutual TLS only: the bench calls it with the operator's certificate."""
    tls = data_dir / "tls"
    credentials = grpc.ssl_channel_credentials(
        (tls / "ca.crt").read_bytes(), (tls / "operator.key").read_bytes(), (tls / "operator.crt").read_bytes()
    )
    options = [("grpc.ssl_target_name_override", role_dns_name(Role.EMBEDDER))]
    return grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials, options=options)


async def embedder_service_rate(channel: grpc.aio.Channel, texts: Sequence[str], roots: Sequence[int]) -> EncoderRun:
    """The embedder service alone, sent the worker's batches with the worker's concurrency: texts/s, and the
    CPU its process used per text."""
    stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
    await stub.EmbedBatch(embedder_pb2.EmbedBatchRequest(texts=texts[:WORKER_BATCH]), timeout=300)  # warm-up
    starts = iter(range(0, len(texts), WORKER_BATCH))

    async def caller() -> None:
        for start in starts:
            request = embedder_pb2.EmbedBatchRequest(texts=texts[start : start + WORKER_BATCH])
            await stub.EmbedBatch(request, timeout=300)

    cpu_before = process_cpu(roots).get("embedder", 0.0)
    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(WORKER_CONCURRENCY)))
    elapsed = time.perf_counter() - started
    cpu = process_cpu(roots).get("embedder", 0.0) - cpu_before
    return EncoderRun(len(texts) / elapsed, cpu * 1000 / len(texts))


async def schema_version(database_url: str) -> int:
    """The memory schema's migration version: which code the run measured."""
    connection = await asyncpg.connect(database_url)
    try:
        version: int = await connection.fetchval(
            "SELECT max(version) FROM cerebro_schema_migrations WHERE component = 'memory'"
        )
    finally:
        await connection.close()
    return version


async def embedded_episodes(database_url: str) -> int:
    """Embedded episodes of every namespace: what the HNSW index holds beside a measured run (a kept
    --data-dir, of this bench or of bench/memory_bench.py, may hold more than --background-episodes)."""
    connection = await asyncpg.connect(database_url)
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM memory.episode_vectors")
    finally:
        await connection.close()
    return count


async def issue_token(database_url: str, namespace: str) -> tuple[tuple[str, str], ...]:
    connection = await asyncpg.connect(database_url)
    try:
        token = (await issue_key(connection, namespace, label="ingest-bench")).token
    finally:
        await connection.close()
    return (("authorization", f"Bearer {token}"),)


@dataclass(frozen=True)
class Ingest:
    mode: str
    episodes: int
    acknowledged_seconds: float
    searchable_seconds: float
    # CPU seconds each part of the mesh used from the first write to 100 % coverage.
    cpu: dict[str, float]
    # CPU seconds of this process meanwhile: the clients (and the coverage polls).
    clients_cpu: float

    @property
    def rate(self) -> float:
        return self.episodes / self.searchable_seconds


async def ingest(
    gateway: gateway_pb2_grpc.AgentGatewayStub,
    auth: tuple[tuple[str, str], ...],
    texts: Sequence[str],
    mode: str,
    clients: int,
    batch_size: int,
    label: str,
    roots: Sequence[int],
    already: int = 0,
) -> Ingest:
    """Write ``texts`` with ``clients`` concurrent clients, then wait for 100 % embedding coverage of the
    namespace, which held ``already`` episodes before."""
    size = 1 if mode == "remember" else batch_size
    calls = iter(range(0, len(texts), size))
    written = tqdm(total=len(texts), desc=f"{label}: written", unit="ep", leave=False)

    async def remember(start: int) -> None:
        request = gateway_pb2.RememberRequest(request_id=str(uuid.uuid4()), content=texts[start])
        await gateway.Remember(request, metadata=auth, timeout=120)

    async def remember_batch(start: int) -> None:
        items = [
            gateway_pb2.RememberRequest(request_id=str(uuid.uuid4()), content=text)
            for text in texts[start : start + size]
        ]
        await gateway.RememberBatch(gateway_pb2.RememberBatchRequest(episodes=items), metadata=auth, timeout=300)

    call: Callable[[int], Awaitable[None]] = remember if mode == "remember" else remember_batch

    async def client() -> None:
        for start in calls:
            await call(start)
            written.update(min(size, len(texts) - start))

    cpu_before, clients_cpu = process_cpu(roots), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    acknowledged = time.perf_counter() - started
    written.close()
    with tqdm(total=len(texts), desc=f"{label}: searchable", unit="ep", leave=False) as searchable:
        while True:
            stats = (await gateway.GetStats(gateway_pb2.GetStatsRequest(), metadata=auth, timeout=60)).memory
            searchable.update(stats.episodes_embedded - already - searchable.n)
            expected = already + len(texts)
            if stats.episodes_total == expected and stats.episodes_embedded == expected:
                break
            await asyncio.sleep(POLL_SECONDS)
    searchable_seconds = time.perf_counter() - started
    cpu = {part: used - cpu_before.get(part, 0.0) for part, used in process_cpu(roots).items()}
    return Ingest(mode, len(texts), acknowledged, searchable_seconds, cpu, time.process_time() - clients_cpu)


async def fill_background(
    gateway: gateway_pb2_grpc.AgentGatewayStub, auth: tuple[tuple[str, str], ...], count: int, roots: Sequence[int]
) -> None:
    """Top the background namespace up to ``count`` episodes (a kept --data-dir may hold some or all)."""
    stored = (await gateway.GetStats(gateway_pb2.GetStatsRequest(), metadata=auth, timeout=60)).memory.episodes_total
    print(f"background namespace: {stored} episodes stored, {max(0, count - stored)} to add")
    if stored < count:
        texts = dialogue_turns(count, seed=99)[stored:]
        await ingest(gateway, auth, texts, "batch", 4, 1000, f"background {count}", roots, already=stored)


@dataclass(frozen=True)
class Row:
    ingest: Ingest
    encoder_before: EncoderRun
    encoder_after: EncoderRun
    embedder_alone: EncoderRun

    @property
    def ratio(self) -> float:
        return self.ingest.rate / ((self.encoder_before.rate + self.encoder_after.rate) / 2)

    @property
    def cpu_ratio(self) -> float:
        """Encoder CPU per text over the whole pipeline's (mesh and clients) CPU per episode: the ratio the
        pipeline would reach if it kept the cores as busy as the Encoder does."""
        encoder_cpu = (self.encoder_before.cpu_ms + self.encoder_after.cpu_ms) / 2
        pipeline_cpu = (sum(self.ingest.cpu.values()) + self.ingest.clients_cpu) * 1000 / self.ingest.episodes
        return encoder_cpu / pipeline_cpu


async def measure(
    data_dir: Path,
    ports: dict[str, int],
    encoder: Encoder,
    texts: list[str],
    args: argparse.Namespace,
    roots: Sequence[int],
) -> tuple[list[Row], int]:
    """The rows of each mode, and how many embedded episodes the database held before them."""
    database_url = (data_dir / "secrets" / "database_url").read_text()
    rows = []
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{ports['gateway']}") as channel,
        embedder_channel(data_dir, ports["embedder"]) as embedder,
    ):
        gateway = gateway_pb2_grpc.AgentGatewayStub(channel)
        if args.background_episodes:
            await fill_background(
                gateway, await issue_token(database_url, "background"), args.background_episodes, roots
            )
        beside = await embedded_episodes(database_url)
        info = await embedder_pb2_grpc.EmbedderServiceStub(embedder).GetModelInfo(embedder_pb2.GetModelInfoRequest())
        print(f"the embedder serves backend {info.backend}; the in-process Encoder runs {encoder.backend.value}")
        run_id = uuid.uuid4().hex[:8]  # a kept --data-dir holds the namespaces of earlier runs
        for run, mode in enumerate(args.modes):
            before = encoder_rate(encoder, texts)
            alone = await embedder_service_rate(embedder, texts, roots)
            auth = await issue_token(database_url, f"ingest-{mode}-{run}-{run_id}")
            result = await ingest(gateway, auth, texts, mode, args.clients, args.batch_size, mode, roots)
            rows.append(Row(result, before, encoder_rate(encoder, texts), alone))
    return rows, beside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=5000, help="texts per mode (default: 5000)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: remember, batch (default: both)")
    parser.add_argument("--batch-size", type=int, default=100, help="episodes per RememberBatch (default: 100)")
    parser.add_argument("--texts", type=Path, help="read the texts from FILE (plain lines or JSONL with content)")
    parser.add_argument("--background-episodes", type=int, default=0, help="embedded episodes in another namespace")
    parser.add_argument("--backend", choices=[b.value for b in Backend], default=DEFAULT_BACKEND.value)
    parser.add_argument(
        "--data-dir", type=Path, help="keep the mesh's data here and reuse it (default: a temporary one)"
    )
    args = parser.parse_args()
    args.modes = [mode for mode in args.modes.split(",") if mode]
    if unknown := set(args.modes) - set(MODES):
        raise SystemExit(f"unknown modes: {sorted(unknown)}")
    texts = read_texts(args.texts, args.episodes) if args.texts else dialogue_turns(args.episodes)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="cerebro-ingest-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)  # the embedded PostgreSQL runs as another user when we are root
    process, ports = start_mesh(data_dir, {"CEREBRO_EMBEDDER_BACKEND": args.backend})
    try:
        encoder = Encoder(args.backend, cache_dir=data_dir / "embedder")
        # pg_ctl detaches the postmaster from `cerebro up`: its pid file names it.
        postmaster = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        rows, beside = asyncio.run(measure(data_dir, ports, encoder, texts, args, [process.pid, postmaster]))
        version = asyncio.run(schema_version((data_dir / "secrets" / "database_url").read_text()))
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    words = [len(text.split()) for text in texts]
    print(
        f"{len(texts)} texts ({statistics.mean(words):.0f} words on average), {args.clients} clients, "
        f"backend {encoder.backend.value}, {beside} embedded episodes in the database beside the run, "
        f"memory schema {version}, "
        f"load average {os.getloadavg()[0]:.1f}.\n"
    )
    print(
        "| mode | acknowledged (s) | 100 % searchable (s) | episodes/s | Encoder texts/s (before, after) | ratio "
        "| embedder alone texts/s | CPU ms/text: Encoder, embedder alone, embedder in the pipeline | CPU ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        result = row.ingest
        name = "Remember" if result.mode == "remember" else f"RememberBatch ({args.batch_size} per call)"
        encoder_cpu = (row.encoder_before.cpu_ms + row.encoder_after.cpu_ms) / 2
        pipeline_cpu = result.cpu.get("embedder", 0.0) * 1000 / result.episodes
        print(
            f"| {name} | {result.acknowledged_seconds:.1f} | {result.searchable_seconds:.1f} | {result.rate:.0f} "
            f"| {row.encoder_before.rate:.0f}, {row.encoder_after.rate:.0f} | {row.ratio:.2f} "
            f"| {row.embedder_alone.rate:.0f} "
            f"| {encoder_cpu:.2f}, {row.embedder_alone.cpu_ms:.2f}, {pipeline_cpu:.2f} | {row.cpu_ratio:.2f} |"
        )
    parts = sorted({part for row in rows for part in row.ingest.cpu if part in SHOWN_PARTS})
    print("\nCPU milliseconds per episode, first write to 100 % searchable:\n")
    print("| mode | " + " | ".join(parts) + " | other (cerebro up) | clients | all |")
    print("|---|" + "---:|" * (len(parts) + 3))
    for row in rows:
        per_episode = 1000 / row.ingest.episodes
        cells = " | ".join(f"{row.ingest.cpu.get(part, 0.0) * per_episode:.2f}" for part in parts)
        other = sum(used for part, used in row.ingest.cpu.items() if part not in parts)
        total = (sum(row.ingest.cpu.values()) + row.ingest.clients_cpu) * per_episode
        print(
            f"| {row.ingest.mode} | {cells} | {other * per_episode:.2f} | {row.ingest.clients_cpu * per_episode:.2f} "
            f"| {total:.2f} |"
        )


if __name__ == "__main__":
    main()
