"""(i) The failover drill (tests/mesh/failover.py): the primary's region is lost while writes flow, the
replica of another region is promoted and its memory service repointed to it.

Asynchronous replication may lose only the writes acknowledged after the replica's last replayed
position; with the replica as a synchronous standby, nothing acknowledged is lost. Each run restores
the mesh afterwards (the old primary back, the promoted replica discarded).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mesh.conftest import PRIMARY_REGION
from tests.mesh.failover import DrillReport, restore, run_drill, write_after_promotion
from tests.mesh.harness import Mesh

pytestmark = pytest.mark.e2e

PROMOTED_REGION = "us"
ACKNOWLEDGED_BEFORE_CUT = 60


@pytest.fixture(params=[False, True], ids=["asynchronous", "synchronous"])
def drill(mesh: Mesh, request: pytest.FixtureRequest) -> Iterator[DrillReport]:
    synchronous: bool = request.param
    try:
        yield run_drill(
            mesh,
            region=PROMOTED_REGION,
            writer_region=PRIMARY_REGION,
            synchronous=synchronous,
            acknowledged_before_cut=ACKNOWLEDGED_BEFORE_CUT,
        )
    finally:
        restore(mesh, PROMOTED_REGION, synchronous=synchronous)


def test_promotion_keeps_every_write_acknowledged_before_the_replayed_position(mesh: Mesh, drill: DrillReport) -> None:
    print(f"\n[mesh i] {drill.summary()}")
    assert len(drill.acknowledged) >= ACKNOWLEDGED_BEFORE_CUT
    # Found: what was written, once each.
    assert set(drill.found) <= drill.attempted, "the promoted database holds writes nobody made"
    assert all(len(ids) == 1 for ids in drill.found.values()), "a write is stored twice"
    # Every write at or before the replayed position survives, under the id it was acknowledged with.
    covered = drill.covered
    assert covered, "the replica had replayed none of the acknowledged writes"
    missing = {content for content, ack in covered.items() if drill.found.get(content) != [ack.episode_id]}
    assert missing == set(), f"acknowledged before the replayed position, not found after promotion: {missing}"
    # What is lost lies after the replayed position; with a synchronous standby nothing is.
    assert all(ack.flushed_by > drill.replayed for ack in drill.lost.values())
    if drill.synchronous:
        assert drill.lost == {}, f"a synchronous standby lost acknowledged writes: {sorted(drill.lost)}"
    # The promoted database takes writes.
    assert write_after_promotion(mesh, PROMOTED_REGION, drill.namespace)
