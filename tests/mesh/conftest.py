"""The mesh fixture: three region namespaces around a core, shared by every scenario of this package.

Started once (it costs ~30 s on 2 cores: PostgreSQL, Redis, the embedder and seven processes), torn
down at the end with an orphan check. Scenarios leave it as they found it: links healed, killed
processes restarted. Skipped, with the reason, where network namespaces cannot be made.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cerebro.embedded import EmbeddedStack
from tests.mesh.harness import Leases, Mesh
from tests.mesh.netns import NetnsUnavailable, check_available, create_namespaces, delete_namespaces, remove_leftovers
from tests.support import free_port

REGIONS = ["eu", "us", "ap"]
# The region that also runs the embeddings and reconciliation workers.
WORKER_REGION = "eu"
# Short job leases and polls: a job claimed by a killed worker is claimed again within seconds.
EMBEDDINGS_WORKER_ENVIRON = {
    "CEREBRO_EMBEDDINGS_WORKER_LEASE_SECONDS": "3",
    "CEREBRO_EMBEDDINGS_WORKER_POLL_SECONDS": "0.5",
    "CEREBRO_EMBEDDINGS_WORKER_BACKOFF_SECONDS": "0.5",
    "CEREBRO_EMBEDDINGS_WORKER_BACKOFF_MAX_SECONDS": "2",
}
# A pass every second, so a Redis that returns is refilled within the test's patience.
RECONCILIATION_WORKER_ENVIRON = {"CEREBRO_RECONCILIATION_WORKER_INTERVAL_SECONDS": "1"}


@pytest.fixture(scope="package")
def mesh() -> Iterator[Mesh]:
    try:
        check_available()
    except NetnsUnavailable as reason:
        pytest.skip(str(reason))
    remove_leftovers()
    # Not pytest's tmp_path: PostgreSQL runs as another account and must reach its data (see tests/conftest.py).
    data_dir = Path(tempfile.mkdtemp(prefix="cerebro-mesh-"))
    # Fixed ports, so a restarted PostgreSQL or Redis is where the links already point.
    stack = EmbeddedStack(data_dir / "stack", postgres_port=free_port(), redis_port=free_port())
    stack.start()
    try:
        namespaces = create_namespaces(REGIONS)
    except BaseException:
        stack.stop()
        raise
    mesh = Mesh(data_dir, stack, namespaces, Leases())
    survivors: list[int] = []
    try:
        mesh.start_links()
        mesh.start_core("consensus").wait_ready()
        embedder = mesh.start_core("embedder")
        for region in REGIONS:
            mesh.start_in_region(region, "memory")
        mesh.start_in_region(WORKER_REGION, "embeddings-worker", EMBEDDINGS_WORKER_ENVIRON)
        mesh.start_in_region(WORKER_REGION, "reconciliation-worker", RECONCILIATION_WORKER_ENVIRON)
        for process in mesh.processes.values():
            process.wait_ready(timeout=180 if process is embedder else 90)
        yield mesh
    finally:
        survivors = mesh.close()
        delete_namespaces(list(namespaces.values()))
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    assert survivors == [], f"processes outlived the mesh: {survivors}"
