"""(c) kill -9 of a memory service and of the embeddings worker during load: every acknowledged write
is stored once, and embedding coverage returns to 100%."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from cerebro.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from cerebro.runtime.roles import Role
from tests.mesh.conftest import WORKER_REGION
from tests.mesh.harness import Mesh
from tests.mesh.loadgen import BackgroundLoad, create_namespace, verify

pytestmark = pytest.mark.e2e

WRITES = 400
CONCURRENCY = 4
LOAD_SECONDS = 30.0
COVERAGE_SECONDS = 60.0


def _restart_after_kill(mesh: Mesh, label: str) -> None:
    process = mesh.processes[label]
    process.kill()
    process.start()
    process.wait_ready()


def _wait_for_full_coverage(mesh: Mesh, target: str, namespace: str) -> memory_service_pb2.GetStatsResponse:
    deadline = time.monotonic() + COVERAGE_SECONDS
    with mesh.channel(target, Role.MEMORY) as channel:
        memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
        while True:
            stats = memory.GetStats(memory_service_pb2.GetStatsRequest(namespace=namespace), timeout=10)
            if stats.embedding_coverage_percent == 100.0 and stats.queue_pending == stats.queue_processing == 0:
                return stats
            assert time.monotonic() < deadline, f"embedding coverage stuck: {stats}"
            time.sleep(0.5)


def test_kill_9_of_memory_and_embeddings_worker_loses_nothing(mesh: Mesh) -> None:
    target = mesh.memory_target(WORKER_REGION)
    namespace = f"crash-{uuid.uuid4().hex[:8]}"
    create_namespace(target, mesh.operator_tls, namespace)
    load = BackgroundLoad(
        target, mesh.operator_tls, namespace, count=WRITES, concurrency=CONCURRENCY, seconds=LOAD_SECONDS
    )

    load.wait_for_acknowledged(30, timeout=20)
    _restart_after_kill(mesh, f"memory@{WORKER_REGION}")
    load.wait_for_acknowledged(len(load.report.acknowledged) + 30, timeout=20)
    _restart_after_kill(mesh, f"embeddings-worker@{WORKER_REGION}")

    report = asyncio.run(verify(target, mesh.operator_tls, load.result(timeout=LOAD_SECONDS + 30)))
    print(f"\n[mesh c] {report.summary()}")
    assert report.acknowledged, "no write was acknowledged"
    assert report.found == len(report.acknowledged)
    assert report.duplicates == 0
    assert report.errors.get("UNAVAILABLE", 0) > 0, "the kill never reached the load"

    stats = _wait_for_full_coverage(mesh, target, namespace)
    assert stats.episodes_total >= len(report.acknowledged)
    assert stats.queue_dead == 0
