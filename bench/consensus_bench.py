"""Consensus: proposal-to-decision latency and decisions per second with 1 and 2 replicas; a markdown table.

    PYTHONPATH=. .venv/bin/python bench/consensus_bench.py [--proposals 300] [--concurrency 1 8 32]

An embedded PostgreSQL 18 is started in a temporary directory, and for each replica count that many
consensus processes (`services.consensus.main`) are started on free loopback ports over one fresh
database. Seven voting instances are enrolled and register, each with its own Ed25519 key and its own gRPC channel to
every replica. One round creates a proposal (the proposer rotates), then all seven sign and cast their
vote at once, instance i at replica i mod R; the five earliest decide it (quorum ceil(2*7/3) = 5) and
the others are refused as late. Latency is from sending CreateProposal to the first Vote response that
reports the decision; `--concurrency` rounds run at once. Each cell follows a warm-up of 20 rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.consensus.client import create_proposal_request, public_key_bytes, register_request, vote_request
from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.consensus.v1 import consensus_pb2_grpc
from cerebro.embedded import EmbeddedPostgres
from cerebro.healthcheck import is_serving
from services.consensus.store import enrollment
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
VOTERS = 7
WARM_UP_ROUNDS = 20
START = [sys.executable, "-c", "from services.consensus.main import main; main()"]


@dataclass
class Voter:
    key: Ed25519PrivateKey
    instance_id: str
    stubs: list[consensus_pb2_grpc.ConsensusServiceStub]  # one per replica, each over its own channel

    def stub_for(self, index: int) -> consensus_pb2_grpc.ConsensusServiceStub:
        return self.stubs[index % len(self.stubs)]


def start_replicas(database_url: str, count: int, data_dir: Path) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    processes, targets = [], []
    for index in range(count):
        port = free_port()
        environ = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            CEREBRO_BIND_HOST="127.0.0.1",
            CEREBRO_CONSENSUS_PORT=str(port),
            CEREBRO_CONSENSUS_METRICS_PORT="0",
            CEREBRO_DATA_DIR=str(data_dir / f"replica-{index}"),
            CEREBRO_DATABASE_URL=database_url,
            CEREBRO_LOG_LEVEL="WARNING",
            # The benchmark does not heartbeat: keep the voters active for the whole run.
            CEREBRO_CONSENSUS_LEASE_TTL_SECONDS="3600",
            CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS="7200",
        )
        processes.append(subprocess.Popen(START, env=environ, cwd=ROOT, stderr=subprocess.DEVNULL))
        targets.append(f"127.0.0.1:{port}")
    deadline = time.monotonic() + 120
    for process, target in zip(processes, targets, strict=True):
        while not is_serving(target, "cerebro.consensus.v1.ConsensusService", timeout=1):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the consensus replica at {target} did not start")
            time.sleep(0.2)
    return processes, targets


async def register_voters(database_url: str, targets: list[str]) -> tuple[list[Voter], list[grpc.aio.Channel]]:
    voters, channels = [], []
    for index in range(VOTERS):
        key = Ed25519PrivateKey.generate()
        admin = await asyncpg.connect(database_url)
        try:
            await enrollment.enroll(admin, f"agent-{index}", public_key_bytes(key), voting=True, by="consensus_bench")
        finally:
            await admin.close()
        own_channels = [grpc.aio.insecure_channel(target) for target in targets]
        channels += own_channels
        stubs = [consensus_pb2_grpc.ConsensusServiceStub(channel) for channel in own_channels]
        response = await stubs[0].RegisterInstance(
            register_request(
                key,
                instance_name=f"agent-{index}",
                instance_type=pb.INSTANCE_TYPE_PRIMARY,
                region="local",
                voting=True,
            )
        )
        voters.append(Voter(key, response.instance.instance_id, stubs))
    return voters, channels


async def cast(voter: Voter, replica: int, proposal_id: str, decided: asyncio.Event) -> None:
    try:
        response = await voter.stub_for(replica).Vote(
            vote_request(voter.key, proposal_id, voter.instance_id, "yes"), timeout=60
        )
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.FAILED_PRECONDITION:  # refused as late: expected
            raise
        return
    if response.proposal.state == pb.PROPOSAL_STATE_DECIDED:
        decided.set()


async def one_round(voters: list[Voter], number: int) -> float:
    """Seconds from CreateProposal to the first response reporting the decision."""
    proposer = voters[number % VOTERS]
    request = create_proposal_request(
        proposer.key,
        proposer_id=proposer.instance_id,
        topic=f"decision {number}",
        deadline=datetime.now(UTC) + timedelta(minutes=5),
    )
    started = time.perf_counter()
    created = await proposer.stub_for(number).CreateProposal(request, timeout=60)
    decided = asyncio.Event()
    votes = [
        asyncio.create_task(cast(voter, index, created.proposal.proposal_id, decided))
        for index, voter in enumerate(voters)
    ]
    await decided.wait()
    elapsed = time.perf_counter() - started
    await asyncio.gather(*votes)
    return elapsed


async def run_rounds(voters: list[Voter], rounds: int, concurrency: int, first_number: int) -> list[float]:
    numbers = iter(range(first_number, first_number + rounds))
    latencies: list[float] = []

    async def worker() -> None:
        for number in numbers:
            latencies.append(await one_round(voters, number))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def measure(
    database_url: str, targets: list[str], proposals: int, concurrency_levels: list[int]
) -> list[tuple[int, float, float, float]]:
    """(proposals in flight, p50 seconds, p99 seconds, decided per second) per concurrency level."""
    voters, channels = await register_voters(database_url, targets)
    try:
        results = []
        number = 0
        for concurrency in concurrency_levels:
            await run_rounds(voters, WARM_UP_ROUNDS, concurrency, number)
            number += WARM_UP_ROUNDS
            started = time.perf_counter()
            latencies = await run_rounds(voters, proposals, concurrency, number)
            wall = time.perf_counter() - started
            number += proposals
            results.append((concurrency, percentile(latencies, 50), percentile(latencies, 99), proposals / wall))
        return results
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))


def percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


async def fresh_database(postgres: EmbeddedPostgres, name: str) -> str:
    connection = await asyncpg.connect(postgres.url)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {name}")
        await connection.execute(f"CREATE DATABASE {name}")
    finally:
        await connection.close()
    return postgres.url_for(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=300, help="measured proposals per cell")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32], help="proposals in flight")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    machine = platform.processor() or platform.machine()
    print(f"Machine: {machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{VOTERS} voting instances (quorum 5), {args.proposals} proposals per row, embedded PostgreSQL 18.\n")
    print("| replicas | proposals in flight | p50 proposal-to-decision (ms) | p99 (ms) | decided per second |")
    print("|---:|---:|---:|---:|---:|")
    with (
        tempfile.TemporaryDirectory(prefix="cerebro-consensus-bench-") as scratch,
        EmbeddedPostgres(Path(scratch) / "stack") as postgres,
    ):
        for replicas in args.replicas:
            database_url = asyncio.run(fresh_database(postgres, f"consensus_bench_{replicas}"))
            processes, targets = start_replicas(database_url, replicas, Path(scratch))
            try:
                for concurrency, p50, p99, rate in asyncio.run(
                    measure(database_url, targets, args.proposals, args.concurrency)
                ):
                    row = f"| {replicas} | {concurrency} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | {rate:.1f} |"
                    print(row, flush=True)
            finally:
                for process in processes:
                    process.terminate()
                for process in processes:
                    process.wait(timeout=60)


if __name__ == "__main__":
    main()
