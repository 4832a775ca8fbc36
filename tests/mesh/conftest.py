"""The mesh fixture: three region namespaces around a core, shared by every scenario of this package.

Started once (it costs ~30 s on 2 cores: PostgreSQL, Redis, the embedder and seven processes), torn
down at the end with an orphan check. Scenarios leave it as they found it: links healed, killed
processes restarted. Skipped, with the reason, where network namespaces cannot be made.

By default the regions are at loopback distance. ``MESH_ONE_WAY_MS=40`` puts ``us`` and ``ap`` 40 ms one
way from the core (80 ms round trip; ``eu``, the primary's region, stays beside it), and every scenario
then prints its figures under that distance.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.mesh.harness import Leases, Mesh, open_mesh
from tests.mesh.netns import NetnsUnavailable, check_available

REGIONS = ["eu", "us", "ap"]
# The region of the core's PostgreSQL primary: its link has no latency, whatever MESH_ONE_WAY_MS says.
PRIMARY_REGION = "eu"
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


def _one_way_seconds() -> float:
    """MESH_ONE_WAY_MS: the scenarios' distance from the remote regions to the core (0, loopback, by default)."""
    return float(os.environ.get("MESH_ONE_WAY_MS", "0")) / 1000


@pytest.fixture(scope="package")
def mesh() -> Iterator[Mesh]:
    try:
        check_available()
    except NetnsUnavailable as reason:
        pytest.skip(str(reason))
    with open_mesh(REGIONS, Leases()) as mesh:
        # The primary's region sits beside the core; the others are as far as MESH_ONE_WAY_MS says.
        remote = [region for region in REGIONS if region != PRIMARY_REGION]
        mesh.set_latency(_one_way_seconds(), *remote)
        print(f"\n[mesh] {', '.join(remote)} at {_one_way_seconds() * 1000:.0f} ms one way from the core", end="")
        mesh.start_core("consensus").wait_ready()
        embedder = mesh.start_core("embedder")
        for region in REGIONS:
            mesh.start_in_region(region, "memory")
        mesh.start_in_region(WORKER_REGION, "embeddings-worker", EMBEDDINGS_WORKER_ENVIRON)
        mesh.start_in_region(WORKER_REGION, "reconciliation-worker", RECONCILIATION_WORKER_ENVIRON)
        for process in mesh.processes.values():
            process.wait_ready(timeout=180 if process is embedder else 90)
        yield mesh
