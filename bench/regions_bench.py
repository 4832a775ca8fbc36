"""Regions at a distance: Remember, Recall and the 2/3 vote, in the primary's region and in remote ones.

    PYTHONPATH=. .venv/bin/python bench/regions_bench.py [--one-way-ms 40] [--back-ms 40] [--calls 40]
        [--rounds 20] [--pairs 300] [--no-replicas] [--shared-embedder] [--regional-consensus]

Runs the three-region mesh of tests/mesh (network namespaces: needs root). ``eu`` holds the primary:
its link to the core (PostgreSQL, Redis, consensus) has no latency; ``us`` and ``ap`` are ``--one-way-ms``
away towards the core and ``--back-ms`` (the same unless given) back from it (application-level delay on
their links, tests/mesh/link.py). Each region runs memory, a gateway and, unless ``--shared-embedder``,
its own embedder (as every Kubernetes region does; ``eu`` uses the core's). Unless ``--no-replicas``,
``us`` and ``ap`` each get a streaming replica of the primary (pg_basebackup, streaming through their
link), handed to their memory service as its read URL.

Every figure is measured twice in the same run, side by side: at loopback distance (all links 0 ms),
then at the distance asked. One agent per region (its own key and namespace) calls its local gateway
with the Python client, one call at a time:

- ``Remember`` ``--calls`` times, then ``Recall`` ``--calls`` times (hybrid, top 10) over what it wrote;
- read-your-writes: ``--pairs`` pairs spread over the regions (one thread per region), each a Remember
  then, as soon as it is acknowledged, ListRecentEpisodes; a read that does not list the write just
  acknowledged is a violation;
- one round trip through each remote region's link (``SELECT 1`` to the core's PostgreSQL from the
  bench process): what the harness's application-level forwarding adds to the nominal distance;
- the vote: three voting agents, one per region, each on its own Ed25519 key, talk to the consensus
  service through their region's link (with ``--regional-consensus``: to their own region's consensus
  service, which writes to the primary through the link and reads the region's replica, as deployed).
  A round creates a proposal (the proposer's region rotates), then all three vote at once; decision
  latency is from sending CreateProposal to the first Vote answer that reports the decision (the agents
  learn of the proposal at once: no watch stream).

Prints a markdown table of p50 / p95 per region and distance, and the issue's goals against the p50s.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc

from cerebro.client.settings import ClientSettings
from cerebro.client.sync_client import CerebroClient
from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.runtime.config import DEFAULT_PORTS
from services.gateway.store import keys
from tests.mesh.agents import VoterAgent
from tests.mesh.harness import Leases, Mesh, open_mesh
from tests.mesh.netns import NetnsUnavailable, check_available
from tests.mesh.replica import with_host

REGIONS = ["eu", "us", "ap"]
PRIMARY_REGION = "eu"
REMOTE_REGIONS = [region for region in REGIONS if region != PRIMARY_REGION]
WARM_UP_CALLS = 5
CALL_TIMEOUT_SECONDS = 30.0
PROPOSAL_SECONDS = 60
GATEWAY_ENVIRON = {
    "CEREBRO_GATEWAY_DOWNSTREAM_TIMEOUT_SECONDS": "20",
    # At loopback distance on a quiet machine the write-then-read pairs outrun the default per-key limit
    # (50 calls/s): the bench measures latency, not the limiter.
    "CEREBRO_GATEWAY_RATE_LIMIT_PER_SECOND": "10000",
    "CEREBRO_GATEWAY_RATE_LIMIT_BURST": "10000",
}
LEASES = Leases(ttl_seconds=10, offline_after_seconds=30)
# A region's own consensus service keeps the mesh's leases.
CONSENSUS_ENVIRON = {
    "CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": str(LEASES.ttl_seconds),
    "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": str(LEASES.offline_after_seconds),
}
TOPICS = ["migration plan", "latency budget", "replica lag", "vote quorum", "embedding model"]


@dataclass
class Cell:
    """Latencies of one operation in one region at one distance, in ms."""

    samples: list[float] = field(default_factory=list)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


def timed(action: Callable[..., object], *args: object, **kwargs: object) -> float:
    """Milliseconds ``action(*args, **kwargs)`` took."""
    started = time.perf_counter()
    action(*args, **kwargs)
    return (time.perf_counter() - started) * 1000


def start_mesh(mesh: Mesh, *, replicas: bool, regional_embedders: bool, regional_consensus: bool) -> None:
    mesh.start_core("consensus").wait_ready()
    mesh.start_core("embedder").wait_ready(timeout=180)
    for region in REGIONS:
        extra: dict[str, str] = {}
        if regional_embedders and region != PRIMARY_REGION:
            mesh.start_in_region(region, "embedder").wait_ready(timeout=180)
            extra["CEREBRO_EMBEDDER_TARGET"] = f"127.0.0.1:{DEFAULT_PORTS['embedder'][0]}"
        read_url = mesh.start_replica(region).url() if replicas and region != PRIMARY_REGION else None
        mesh.start_in_region(region, "memory", extra, read_database_url=read_url).wait_ready()
        if regional_consensus:
            mesh.start_in_region(region, "consensus", CONSENSUS_ENVIRON, read_database_url=read_url).wait_ready()
    mesh.start_in_region(PRIMARY_REGION, "embeddings-worker").wait_ready()
    for region in REGIONS:
        mesh.start_in_region(region, "gateway", GATEWAY_ENVIRON).wait_ready(timeout=60)


def link_round_trips(mesh: Mesh, region: str, count: int) -> Cell:
    """What one round trip through ``region``'s link costs as the harness makes it: ``SELECT 1`` from this
    process to the core's PostgreSQL through the link, ``count`` times (after a warm-up)."""

    async def measure_link() -> Cell:
        connection = await asyncpg.connect(with_host(mesh.stack.database_url, mesh.links[region].address))
        try:
            cell = Cell()
            for index in range(WARM_UP_CALLS + count):
                started = time.perf_counter()
                await connection.fetchval("SELECT 1")
                if index >= WARM_UP_CALLS:
                    cell.samples.append((time.perf_counter() - started) * 1000)
            return cell
        finally:
            await connection.close()

    return asyncio.run(measure_link())


def issue_keys(database_url: str, namespaces: dict[str, str]) -> dict[str, str]:
    async def issue() -> dict[str, str]:
        connection = await asyncpg.connect(database_url)
        try:
            return {
                region: (await keys.issue_key(connection, namespace, label=f"regions bench {region}")).token
                for region, namespace in namespaces.items()
            }
        finally:
            await connection.close()

    return asyncio.run(issue())


def memory_round(clients: dict[str, CerebroClient], calls: int, run: str) -> dict[str, dict[str, Cell]]:
    """Remember then Recall in each region in turn; cells by operation, then region."""
    cells: dict[str, dict[str, Cell]] = {"Remember": {}, "Recall": {}}
    for region, client in clients.items():
        for index in range(WARM_UP_CALLS):
            client.remember(f"warm-up {run} {index}", timeout=CALL_TIMEOUT_SECONDS)
            client.recall("warm-up", top_k=10, timeout=CALL_TIMEOUT_SECONDS)
        remember, recall = Cell(), Cell()
        for index in range(calls):
            content = f"{TOPICS[index % len(TOPICS)]}: note {index} of {region} ({run})"
            remember.samples.append(timed(client.remember, content, timeout=CALL_TIMEOUT_SECONDS))
        for index in range(calls):
            query = TOPICS[index % len(TOPICS)]
            recall.samples.append(timed(client.recall, query, top_k=10, timeout=CALL_TIMEOUT_SECONDS))
        cells["Remember"][region], cells["Recall"][region] = remember, recall
    return cells


@dataclass
class Pairs:
    """Write-then-read pairs: reads that missed the write just acknowledged, and read latencies."""

    made: int = 0
    violations: int = 0
    reads: Cell = field(default_factory=Cell)


def read_your_writes(clients: dict[str, CerebroClient], pairs: int, run: str) -> dict[str, Pairs]:
    """``pairs`` Remember-then-ListRecentEpisodes pairs spread evenly over the regions (one thread each):
    the read, sent as soon as the write is acknowledged, must list that write."""
    results = {region: Pairs() for region in clients}

    def region_pairs(region: str) -> None:
        client, result = clients[region], results[region]
        for index in range(pairs // len(clients)):
            content = f"read-your-writes {index} of {region} ({run})"
            client.remember(content, timeout=CALL_TIMEOUT_SECONDS)
            started = time.perf_counter()
            recent = client.recent_episodes(page_size=5, timeout=CALL_TIMEOUT_SECONDS)
            result.reads.samples.append((time.perf_counter() - started) * 1000)
            result.made += 1
            if content not in {episode.content for episode in recent.episodes}:
                result.violations += 1

    with ThreadPoolExecutor(len(clients)) as pool:
        for done in [pool.submit(region_pairs, region) for region in clients]:
            done.result()
    return results


def _vote(agent: VoterAgent, proposal_id: str) -> float | None:
    """When ``agent``'s vote came back reporting the decision, or None (also when refused as too late)."""
    try:
        state = agent.vote(proposal_id, "yes").state
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
        return None
    return time.perf_counter() if state == pb.PROPOSAL_STATE_DECIDED else None


def vote_round(voters: dict[str, VoterAgent], rounds: int) -> dict[str, Cell]:
    """Decision latency by the proposer's region."""
    cells = {region: Cell() for region in REGIONS}
    with ThreadPoolExecutor(len(voters)) as pool:
        for index in range(rounds + len(REGIONS)):
            region = REGIONS[index % len(REGIONS)]
            started = time.perf_counter()
            deadline = datetime.now(UTC) + timedelta(seconds=PROPOSAL_SECONDS)
            proposal_id = voters[region].propose(f"round {index}", deadline).proposal_id
            answers = [pool.submit(_vote, agent, proposal_id) for agent in voters.values()]
            decided_at = [at for answer in answers if (at := answer.result()) is not None]
            # The first rounds, one per proposing region, warm the channels up.
            if index >= len(REGIONS):
                cells[region].samples.append((min(decided_at) - started) * 1000)
    return cells


@dataclass
class Figures:
    """Everything measured at one distance."""

    memory: dict[str, dict[str, Cell]]
    votes: dict[str, Cell]
    pairs: dict[str, Pairs]
    # One round trip through each remote region's link, as the harness makes it.
    links: dict[str, Cell]


def measure(
    mesh: Mesh,
    one_way: float,
    clients: dict[str, CerebroClient],
    voters: dict[str, VoterAgent],
    args: argparse.Namespace,
) -> Figures:
    # Back from the core as far as towards it, unless --back-ms makes the links asymmetric.
    back = one_way if args.back_ms is None or not one_way else args.back_ms / 1000
    mesh.set_latency(one_way, *REMOTE_REGIONS, back_seconds=back)
    run = uuid.uuid4().hex[:8]
    links = {region: link_round_trips(mesh, region, args.calls) for region in REMOTE_REGIONS}
    memory = memory_round(clients, args.calls, run)
    votes = vote_round(voters, args.rounds)
    return Figures(memory, votes, read_your_writes(clients, args.pairs, run), links)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one-way-ms", type=float, default=40.0, help="from a remote region to the core")
    parser.add_argument("--back-ms", type=float, default=None, help="from the core back (default: --one-way-ms)")
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=300, help="write-then-read pairs per distance")
    parser.add_argument("--no-replicas", action="store_true")
    parser.add_argument("--shared-embedder", action="store_true")
    parser.add_argument(
        "--regional-consensus",
        action="store_true",
        help="a consensus service in each region (reading its replica), which the region's voters call",
    )
    args = parser.parse_args()
    try:
        check_available()
    except NetnsUnavailable as reason:
        raise SystemExit(f"regions_bench needs network namespaces: {reason}") from None
    one_way = args.one_way_ms / 1000
    # Leases long enough that no voter lapses while the links are slow.
    with open_mesh(REGIONS, LEASES) as mesh:
        started = time.monotonic()
        start_mesh(
            mesh,
            replicas=not args.no_replicas,
            regional_embedders=not args.shared_embedder,
            regional_consensus=args.regional_consensus,
        )
        print(f"mesh ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
        namespaces = {region: f"bench-{region}-{uuid.uuid4().hex[:6]}" for region in REGIONS}
        tokens = issue_keys(mesh.stack.database_url, namespaces)
        clients = {
            region: CerebroClient(ClientSettings(target=mesh.service_target(region, "gateway"), api_key=tokens[region]))
            for region in REGIONS
        }
        voters = {
            region: VoterAgent(
                f"voter@{region}",
                region,
                mesh.service_target(region, "consensus")
                if args.regional_consensus
                else mesh.links[region].target("consensus"),
                mesh.operator_tls,
            )
            for region in REGIONS
        }
        try:
            for agent in voters.values():
                mesh.enroll(agent.name, agent.key)
                agent.join()
            results = {distance: measure(mesh, distance, clients, voters, args) for distance in (0.0, one_way)}
        finally:
            for agent in voters.values():
                agent.leave()
            for client in clients.values():
                client.close()
        report(results, one_way, args)


def report(results: dict[float, Figures], one_way: float, args: argparse.Namespace) -> None:
    rtt_ms = one_way * 1000 + (args.one_way_ms if args.back_ms is None else args.back_ms)
    far = f"{rtt_ms:.0f} ms RTT"
    print(
        f"\n{platform.node()}, {args.calls} calls per cell, {args.rounds} vote rounds; replicas "
        f"{'off' if args.no_replicas else 'on'}, {'shared' if args.shared_embedder else 'regional'} embedders, "
        f"{'regional consensus services' if args.regional_consensus else 'consensus in the core'}\n"
    )
    print(f"| operation | region | p50 loopback | p95 loopback | p50 {far} | p95 {far} |")
    print("|---|---|---|---|---|---|")
    near_cells, near_votes = results[0.0].memory, results[0.0].votes
    far_cells, far_votes = results[one_way].memory, results[one_way].votes
    for operation in ("Remember", "Recall"):
        for region in REGIONS:
            near, distant = near_cells[operation][region], far_cells[operation][region]
            print(
                f"| {operation} | {region} | {near.p50:.1f} | {near.percentile(0.95):.1f} | "
                f"{distant.p50:.1f} | {distant.percentile(0.95):.1f} |"
            )
    for region in REGIONS:
        near, distant = near_votes[region], far_votes[region]
        print(
            f"| 2/3 vote, proposed in | {region} | {near.p50:.1f} | {near.percentile(0.95):.1f} | "
            f"{distant.p50:.1f} | {distant.percentile(0.95):.1f} |"
        )
    for region in REMOTE_REGIONS:
        near_link, far_link = results[0.0].links[region], results[one_way].links[region]
        print(
            f"| one round trip through the link (SELECT 1) | {region} | {near_link.p50:.1f} | "
            f"{near_link.percentile(0.95):.1f} | {far_link.p50:.1f} | {far_link.percentile(0.95):.1f} |"
        )
    for region in REGIONS:
        near_reads, far_reads = results[0.0].pairs[region].reads, results[one_way].pairs[region].reads
        print(
            f"| read after write (ListRecentEpisodes) | {region} | {near_reads.p50:.1f} | "
            f"{near_reads.percentile(0.95):.1f} | {far_reads.p50:.1f} | {far_reads.percentile(0.95):.1f} |"
        )
    every_vote = Cell([sample for cell in far_votes.values() for sample in cell.samples])
    recall_local = far_cells["Recall"][PRIMARY_REGION].p50
    print(f"\nGoals at {far} (p50):")
    for region in REMOTE_REGIONS:
        recall = far_cells["Recall"][region].p50
        remember = far_cells["Remember"][region].p50
        print(
            f"- Recall in {region} {recall:.1f} ms vs {recall_local:.1f} ms in {PRIMARY_REGION}: "
            f"{'met' if recall <= recall_local + 5 else 'MISSED'} (goal: at most 5 ms more)"
        )
        link = results[one_way].links[region].p50
        print(
            f"- Remember in {region} {remember:.1f} ms: {'met' if remember <= rtt_ms + 10 else 'MISSED'} "
            f"(goal: at most {rtt_ms + 10:.0f} ms, one round trip + 10 ms; the link's own round trip here "
            f"{link:.1f} ms, so {remember - link:.1f} ms beyond it)"
        )
    for distance, label in ((0.0, "loopback"), (one_way, far)):
        pairs = results[distance].pairs
        made, violations = sum(p.made for p in pairs.values()), sum(p.violations for p in pairs.values())
        by_region = ", ".join(f"{region} {p.violations}/{p.made}" for region, p in pairs.items())
        print(
            f"- read-your-writes at {label}: {violations} violations in {made} write-then-read pairs "
            f"({by_region}; {'met' if violations == 0 else 'MISSED'}; goal: 0)"
        )
    print(
        f"- 2/3 vote across three regions {every_vote.p50:.1f} ms: "
        f"{'met' if every_vote.p50 <= 2 * rtt_ms + 20 else 'MISSED'} (goal: at most {2 * rtt_ms + 20:.0f} ms)"
    )


if __name__ == "__main__":
    main()
