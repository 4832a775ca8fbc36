"""(e) PostgreSQL restarted during load: every region's memory service reports NOT_SERVING, then SERVING
again by itself (same process, no restart), and every acknowledged write is stored once."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cerebro.runtime.roles import Role
from tests.mesh.conftest import REGIONS, WORKER_REGION
from tests.mesh.harness import Mesh
from tests.mesh.loadgen import BackgroundLoad, create_namespace, verify

pytestmark = pytest.mark.e2e

WRITES = 400
CONCURRENCY = 4
LOAD_SECONDS = 40.0
HEALTH_SECONDS = 30.0


def _health(mesh: Mesh, target: str) -> int:
    with mesh.channel(target, Role.MEMORY) as channel:
        try:
            return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2).status
        except grpc.RpcError:
            return health_pb2.HealthCheckResponse.UNKNOWN


def _wait_for_health(mesh: Mesh, status: int) -> float:
    started = time.monotonic()
    pending = set(REGIONS)
    while pending:
        pending = {region for region in pending if _health(mesh, mesh.memory_target(region)) != status}
        assert time.monotonic() - started < HEALTH_SECONDS, f"memory never reported {status} in {sorted(pending)}"
        time.sleep(0.2)
    return time.monotonic() - started


def test_postgres_restart_is_survived_without_restarting_services(mesh: Mesh) -> None:
    target = mesh.memory_target(WORKER_REGION)
    namespace = f"pgrestart-{uuid.uuid4().hex[:8]}"
    create_namespace(target, mesh.operator_tls, namespace)
    pids = {label: process.popen.pid for label, process in mesh.processes.items() if process.popen}
    load = BackgroundLoad(
        target, mesh.operator_tls, namespace, count=WRITES, concurrency=CONCURRENCY, seconds=LOAD_SECONDS
    )
    load.wait_for_acknowledged(30, timeout=20)

    mesh.stack.postgres.stop()
    try:
        to_not_serving = _wait_for_health(mesh, health_pb2.HealthCheckResponse.NOT_SERVING)
    finally:
        mesh.stack.postgres.start()
    to_serving = _wait_for_health(mesh, health_pb2.HealthCheckResponse.SERVING)

    report = asyncio.run(verify(target, mesh.operator_tls, load.result(timeout=LOAD_SECONDS + 30)))
    print(
        f"\n[mesh e] NOT_SERVING everywhere {to_not_serving:.1f} s after the stop, SERVING {to_serving:.1f} s "
        f"after the start; {report.summary()}"
    )
    if report.errors.get("INTERNAL"):
        print(mesh.processes[f"memory@{WORKER_REGION}"].log_tail(60))
    assert report.acknowledged and report.found == len(report.acknowledged)
    assert report.duplicates == 0
    assert report.errors.get("UNAVAILABLE", 0) > 0, "the outage never reached the load"
    exited = {
        label: process.log_tail(15) for label, process in mesh.processes.items() if process.popen.poll() is not None
    }  # type: ignore[union-attr]
    assert exited == {}, "a process did not survive the PostgreSQL restart"
    restarted = [label for label, pid in pids.items() if mesh.processes[label].popen.pid != pid]  # type: ignore[union-attr]
    assert restarted == []
