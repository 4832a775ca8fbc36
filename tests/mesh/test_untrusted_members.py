"""(g) Sybil voters and (h) discovery that keeps watching, across the three regions (issue #12).

(g) Three enrolled voting agents, one per region, and eight fake voters with fresh self-signed keys
trying every way in: plaintext through a region's link, with the operator's certificate, under a real
agent's name. None registers; the electorate is the three; the fakes' votes are refused; the agents'
decision stands and re-verifies offline against the enrolments.

(h) A gateway in `us` starts with the module. About a minute later (past the moment its first watch
died before the fix: the consensus channel it swapped for the discovered replica closes after 30 s), a
second memory replica starts in `us`: it joins the gateway's pool and serves agents' calls. Killed with
SIGKILL, its lease lapses and it leaves the pool.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client.parser import text_string_to_metric_families

from cerebro.client import CerebroClient, ClientSettings
from cerebro.consensus.client import register_request, reverify, vote_request
from cerebro.consensus.rules import Outcome, ProposalState
from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.consensus.v1 import consensus_pb2_grpc
from cerebro.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from cerebro.runtime.roles import Role
from services.gateway.store import keys
from tests.mesh.agents import VoterAgent, get_proposal
from tests.mesh.conftest import REGIONS
from tests.mesh.harness import Mesh

pytestmark = pytest.mark.e2e

SYBILS = 8
CALL_SECONDS = 5.0
GATEWAY_REGION = "us"
# The issue's "a replica that starts a minute late".
LATE_SECONDS = 60.0
LATE_PORTS = {"CEREBRO_MEMORY_PORT": "50062", "CEREBRO_MEMORY_METRICS_PORT": "9112"}
MEMORY_SERVICE = "cerebro.memory.v1.MemoryService"


@pytest.fixture(scope="module")
def gateway(mesh: Mesh) -> Iterator[tuple[str, float]]:
    """A gateway in `us` for this module, and when it started; retired afterwards."""
    started = time.monotonic()
    process = mesh.start_in_region(GATEWAY_REGION, "gateway", {"CEREBRO_GATEWAY_DOWNSTREAM_TIMEOUT_SECONDS": "5"})
    try:
        process.wait_ready(timeout=60)
        yield mesh.service_target(GATEWAY_REGION, "gateway"), started
    finally:
        mesh.retire(process.label)


def _refused(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code()  # type: ignore[attr-defined, no-any-return]


def test_eight_sybils_cannot_join_or_change_a_decision(mesh: Mesh, gateway: tuple[str, float]) -> None:
    run = uuid.uuid4().hex[:6]
    agents = {
        region: VoterAgent(
            f"enrolled-{run}@{region}", region, mesh.links[region].target("consensus"), mesh.operator_tls
        )
        for region in REGIONS
    }
    refusals: Counter[str] = Counter()
    try:
        for agent in agents.values():
            mesh.enroll(agent.name, agent.key)
            agent.join()

        for index in range(SYBILS):
            region = REGIONS[index % len(REGIONS)]
            key = Ed25519PrivateKey.generate()
            link = mesh.links[region].target("consensus")
            for name in (f"sybil-{run}-{index}", agents[region].name):  # its own name, and squatting a real one
                request = register_request(
                    key, instance_name=name, instance_type=pb.INSTANCE_TYPE_PRIMARY, region=region, voting=True
                )
                with grpc.insecure_channel(link) as plaintext:
                    code = _refused(
                        lambda channel=plaintext, request=request: consensus_pb2_grpc.ConsensusServiceStub(
                            channel
                        ).RegisterInstance(request, timeout=CALL_SECONDS)
                    )
                assert code == grpc.StatusCode.UNAVAILABLE
                refusals[f"register plaintext: {code.name}"] += 1
                with mesh.channel(link, Role.CONSENSUS) as operator:
                    code = _refused(
                        lambda channel=operator, request=request: consensus_pb2_grpc.ConsensusServiceStub(
                            channel
                        ).RegisterInstance(request, timeout=CALL_SECONDS)
                    )
                assert code == grpc.StatusCode.PERMISSION_DENIED
                refusals[f"register with a certificate: {code.name}"] += 1
        registered = set(mesh.instance_statuses())
        assert not {name for name in registered if name.startswith(f"sybil-{run}")}

        proposal = agents["eu"].propose("keep the tuned reconnect backoff?", datetime.now(UTC) + timedelta(minutes=2))
        # The report's proposal had electorate 11 and quorum 8; this one has the three enrolled agents.
        assert (proposal.electorate_size, proposal.quorum) == (3, 2)
        assert {elector.instance_id for elector in proposal.electorate} == {a.instance_id for a in agents.values()}

        # The fakes vote "no", as themselves and as the agents of their regions: refused, every one.
        for index in range(SYBILS):
            key = Ed25519PrivateKey.generate()
            for voter_id, expected in (
                (str(uuid.uuid4()), grpc.StatusCode.PERMISSION_DENIED),
                (agents[REGIONS[index % len(REGIONS)]].instance_id, grpc.StatusCode.UNAUTHENTICATED),
            ):
                with mesh.channel(mesh.consensus_target(), Role.CONSENSUS) as operator:
                    code = _refused(
                        lambda channel=operator, voter_id=voter_id, key=key: consensus_pb2_grpc.ConsensusServiceStub(
                            channel
                        ).Vote(vote_request(key, proposal.proposal_id, voter_id, "no"), timeout=CALL_SECONDS)
                    )
                assert code == expected
                refusals[f"vote: {code.name}"] += 1

        assert agents["eu"].vote(proposal.proposal_id, "yes").state == pb.PROPOSAL_STATE_OPEN
        decided = agents["ap"].vote(proposal.proposal_id, "yes")
        assert decided.state == pb.PROPOSAL_STATE_DECIDED and decided.decided_option == "yes"
        full = get_proposal(mesh.consensus_target(), proposal.proposal_id, mesh.operator_tls)
        assert reverify(full, mesh.enrollments()) == Outcome(ProposalState.DECIDED, "yes")
    finally:
        for agent in agents.values():
            agent.leave()
    print(
        f"\n[mesh g] {SYBILS} sybils, each under its own name and a real agent's: {dict(refusals)}; "
        "electorate 3, quorum 2, decided yes"
    )


def _pool(gateway_target: str, component: str) -> tuple[int, int]:
    with grpc.insecure_channel(gateway_target) as channel:
        health = gateway_pb2_grpc.AgentGatewayStub(channel).GetHealth(gateway_pb2.GetHealthRequest(), timeout=10)
    (found,) = [c for c in health.components if c.name == component]
    return found.replicas, found.serving_replicas


def _wait_for_pool(gateway_target: str, component: str, wanted: tuple[int, int], timeout: float) -> float:
    started = time.monotonic()
    while (seen := _pool(gateway_target, component)) != wanted:
        assert time.monotonic() - started < timeout, f"the gateway's {component} pool stayed {seen}, not {wanted}"
        time.sleep(0.2)
    return time.monotonic() - started


def _served_calls(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "grpc_server_handled_total"
            and sample.labels.get("grpc_service") == MEMORY_SERVICE
            and sample.labels.get("grpc_code") == "OK"
        )
    )


def _issue_key(database_url: str, namespace: str) -> str:
    async def issue() -> str:
        connection = await asyncpg.connect(database_url)
        try:
            return (await keys.issue_key(connection, namespace, label="mesh h")).token
        finally:
            await connection.close()

    return asyncio.run(issue())


def test_a_replica_that_starts_a_minute_late_joins_and_one_that_lapses_leaves(
    mesh: Mesh, gateway: tuple[str, float]
) -> None:
    target, started = gateway
    # Every memory replica is in the pool; only the gateway's own region's is reachable (and so serving).
    before = _pool(target, "memory")
    assert before == (len(REGIONS), 1), before
    # The discovered consensus replica (cerebro-core, through this region's link) took over from the static target.
    assert _pool(target, "consensus") == (1, 1)
    time.sleep(max(0.0, LATE_SECONDS - (time.monotonic() - started)))

    label = f"memory-late@{GATEWAY_REGION}"
    late_by = time.monotonic() - started
    late = mesh.start_in_region(GATEWAY_REGION, "memory", LATE_PORTS, label=label)
    try:
        late.wait_ready()
        joined = _wait_for_pool(target, "memory", (before[0] + 1, 2), timeout=30)
        url = f"http://{mesh.namespaces[GATEWAY_REGION].address}:{LATE_PORTS['CEREBRO_MEMORY_METRICS_PORT']}/metrics"
        served_before = _served_calls(url)
        token = _issue_key(mesh.stack.database_url, f"late-{uuid.uuid4().hex[:6]}")
        with CerebroClient(ClientSettings(target=target, api_key=token)) as client:
            for index in range(20):
                client.remember(f"served by whichever replica, {index}", timeout=10)
        served = _served_calls(url) - served_before
        assert served > 0, "the late replica joined the pool but served nothing"

        late.kill()  # no deregistration: only its lapsing lease tells the mesh
        left = _wait_for_pool(target, "memory", before, timeout=30)
    finally:
        mesh.retire(label)
    print(
        f"\n[mesh h] a memory replica started {late_by:.0f} s after the gateway joined its pool {joined:.1f} s after "
        f"it was ready and served {served} calls of 20 remembers; killed -9, it left the pool {left:.1f} s later"
    )
