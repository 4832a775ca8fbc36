"""`cerebro up`, end to end as a user runs it: a subprocess, real servers, Ctrl-C, restart."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.memory.v1 import episodes_pb2, memory_service_pb2, memory_service_pb2_grpc
from cerebro.runtime.roles import Role
from services.cli.serve import PROCESS_MODULES
from tests.cerebro_up import RunningUp, free_port_environ, operator_channel

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped by its parent.
    return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _server_pids(data_dir: Path) -> list[int]:
    pids = []
    postmaster = data_dir / "postgres" / "postmaster.pid"
    if postmaster.exists():
        pids.append(int(postmaster.read_text().splitlines()[0]))
    pids += [int(p.read_text().strip()) for p in (data_dir / "redis").glob("*.pid")]
    return pids


@pytest.fixture
def up_run(stack_data_dir: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    yield stack_data_dir, free_port_environ()


def _embedder_checks(data_dir: Path, port: str) -> None:
    with operator_channel(data_dir, port, Role.EMBEDDER) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {service.name for reply in replies for service in reply.list_services_response.service}
        assert "cerebro.embedder.v1.EmbedderService" in names
        assert "grpc.health.v1.Health" in names
        response = embedder_pb2_grpc.EmbedderServiceStub(channel).Embed(
            embedder_pb2.EmbedRequest(text="NEXUS remembers the first day."), timeout=30
        )
        assert len(response.embedding) == 384


def _memory_end_to_end(data_dir: Path, port: str) -> None:
    """Episodes written to memory are embedded by the worker (coverage 100%) and found by hybrid search."""
    contents = [
        "NEXUS deployed the memory mesh across three regions.",
        "ARIA tuned the embeddings worker for long episodes.",
        "The quorum decided to adopt ONNX for the embedder.",
    ]
    with operator_channel(data_dir, port, Role.MEMORY) as channel:
        memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
        for content in contents:
            memory.CreateEpisode(
                memory_service_pb2.CreateEpisodeRequest(
                    namespace="nexus", episode=episodes_pb2.Episode(content=content)
                ),
                timeout=10,
            )
        deadline = time.monotonic() + 60
        while True:
            stats = memory.GetStats(memory_service_pb2.GetStatsRequest(namespace="nexus"), timeout=10)
            if stats.episodes_total >= len(contents) and stats.embedding_coverage_percent == 100.0:
                break
            assert time.monotonic() < deadline, f"embedding coverage stuck: {stats}"
            time.sleep(0.2)
        hits = memory.SearchEpisodes(
            memory_service_pb2.SearchEpisodesRequest(namespace="nexus", query="which runtime did the vote choose?"),
            timeout=30,
        )
    assert hits.hits, "hybrid search found nothing"


async def _write_marker(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("CREATE TABLE IF NOT EXISTS up_marker (note text)")
        await connection.execute("INSERT INTO up_marker VALUES ('survives restarts')")
    finally:
        await connection.close()


async def _read_marker(url: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        return [row["note"] for row in await connection.fetch("SELECT note FROM up_marker")]
    finally:
        await connection.close()


def _statuses(data_dir: Path, port: str) -> dict[str, int]:
    """Instance status by capability (= process name) as the consensus service reports it."""
    with operator_channel(data_dir, port, Role.CONSENSUS) as channel:
        response = consensus_pb2_grpc.ConsensusServiceStub(channel).ListInstances(
            consensus_pb2.ListInstancesRequest(), timeout=10
        )
    return {capability: i.status for i in response.instances for capability in i.capabilities}


def _wait_for_status(data_dir: Path, port: str, process: str, status: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _statuses(data_dir, port).get(process) == status:
            return
        time.sleep(0.2)
    statuses = _statuses(data_dir, port)
    raise AssertionError(f"{process} never became {consensus_pb2.InstanceStatus.Name(status)}: {statuses}")


def test_up_serves_then_stops_cleanly_and_keeps_data(up_run: tuple[Path, dict[str, str]]) -> None:
    data_dir, ports = up_run
    first = RunningUp(data_dir, ports)
    try:
        first.wait_until_up()
        _embedder_checks(data_dir, ports["CEREBRO_EMBEDDER_PORT"])
        _memory_end_to_end(data_dir, ports["CEREBRO_MEMORY_PORT"])
        # The CA key and every process's key are private to the account that runs `cerebro up`.
        assert {path.stat().st_mode & 0o777 for path in (data_dir / "tls").glob("*.key")} == {0o600}
        assert (data_dir / "tls").stat().st_mode & 0o777 == 0o700
        # The gateway's HTTP/JSON face answers on its own port; /health needs no credentials.
        health_url = f"http://127.0.0.1:{ports['CEREBRO_GATEWAY_HTTP_PORT']}/health"
        with urllib.request.urlopen(health_url, timeout=10) as response:
            assert response.status == 200 and b"status" in response.read()
        metrics_url = f"http://127.0.0.1:{ports['CEREBRO_EMBEDDER_METRICS_PORT']}/metrics"
        assert b"grpc_server_handled_total" in urllib.request.urlopen(metrics_url, timeout=10).read()
        database_url = (data_dir / "secrets" / "database_url").read_text()
        asyncio.run(_write_marker(database_url))

        # Every running process is in the instance network; a killed one lapses, then comes back.
        consensus_port = ports["CEREBRO_CONSENSUS_PORT"]
        for process in PROCESS_MODULES:
            _wait_for_status(data_dir, consensus_port, process, consensus_pb2.INSTANCE_STATUS_ACTIVE)
        os.kill(first.child_pid("embedder"), signal.SIGKILL)
        _wait_for_status(data_dir, consensus_port, "embedder", consensus_pb2.INSTANCE_STATUS_STANDBY)
        _wait_for_status(data_dir, consensus_port, "embedder", consensus_pb2.INSTANCE_STATUS_OFFLINE)
        _wait_for_status(data_dir, consensus_port, "embedder", consensus_pb2.INSTANCE_STATUS_ACTIVE, timeout=120)
        _embedder_checks(data_dir, ports["CEREBRO_EMBEDDER_PORT"])

        # A second `cerebro up` over the same data directory is refused in one line, touching nothing.
        certificates = {path: path.read_bytes() for path in (data_dir / "tls").iterdir()}
        second_owner = RunningUp(data_dir, free_port_environ())
        refusal = second_owner.process.communicate(timeout=60)[0]
        assert second_owner.process.returncode == 1, refusal
        assert "Traceback" not in refusal and "cerebro up: " in refusal
        assert {path: path.read_bytes() for path in (data_dir / "tls").iterdir()} == certificates
        _embedder_checks(data_dir, ports["CEREBRO_EMBEDDER_PORT"])

        pids = first.descendants() | set(_server_pids(data_dir))
        assert pids
    finally:
        output = first.interrupt()
    assert first.process.returncode == 0, output
    assert "Stopped." in output
    # The banner names the HTTP/JSON face beside the gRPC ports.
    assert f"http://127.0.0.1:{ports['CEREBRO_GATEWAY_HTTP_PORT']}" in output
    time.sleep(0.5)
    assert [pid for pid in pids if _alive(pid)] == [], output

    second = RunningUp(data_dir, ports)
    try:
        second.wait_until_up()
        database_url = (data_dir / "secrets" / "database_url").read_text()
        assert asyncio.run(_read_marker(database_url)) == ["survives restarts"]
        # The mesh CA is kept: certificates and tools made for it keep working across restarts.
        assert (data_dir / "tls" / "ca.crt").read_bytes() == certificates[data_dir / "tls" / "ca.crt"]
        _embedder_checks(data_dir, ports["CEREBRO_EMBEDDER_PORT"])
    finally:
        second.interrupt()
    assert second.process.returncode == 0
