"""(f) A cut-off region's instances go standby, then offline, by lease; active again once the cut heals."""

from __future__ import annotations

import pytest

from cerebro.consensus.v1.consensus_pb2 import (
    INSTANCE_STATUS_ACTIVE,
    INSTANCE_STATUS_OFFLINE,
    INSTANCE_STATUS_STANDBY,
)
from tests.mesh.conftest import REGIONS
from tests.mesh.harness import Mesh

pytestmark = pytest.mark.e2e

CUT_REGION = "us"


def test_cut_region_goes_standby_then_offline_and_returns_after_heal(mesh: Mesh) -> None:
    leases = mesh.leases
    for region in REGIONS:
        mesh.wait_for_status(f"memory@{region}", INSTANCE_STATUS_ACTIVE, timeout=30)

    mesh.cut(CUT_REGION)
    try:
        to_standby = mesh.wait_for_status(
            f"memory@{CUT_REGION}", INSTANCE_STATUS_STANDBY, timeout=leases.ttl_seconds * 3
        )
        to_offline = mesh.wait_for_status(
            f"memory@{CUT_REGION}", INSTANCE_STATUS_OFFLINE, timeout=leases.offline_after_seconds * 3
        )
        statuses = mesh.instance_statuses()
        for region in REGIONS:
            if region != CUT_REGION:
                assert statuses[f"memory@{region}"] == INSTANCE_STATUS_ACTIVE, "a reachable region lost its lease"
    finally:
        mesh.heal(CUT_REGION)
    # Registration retries back off to at most 5 s, then registers again.
    back = mesh.wait_for_status(f"memory@{CUT_REGION}", INSTANCE_STATUS_ACTIVE, timeout=20)
    print(
        f"\n[mesh f] standby after {to_standby:.1f} s, offline {to_offline:.1f} s later, active {back:.1f} s after heal"
    )
