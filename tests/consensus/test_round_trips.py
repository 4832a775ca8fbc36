"""Round trips between the consensus service and PostgreSQL, counted by a proxy between them (steady
state: statements prepared first; the least of a few measurements, as in tests/memory/test_round_trips.py)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.consensus.client import deregister_request, heartbeat_request
from cerebro.consensus.v1 import consensus_pb2 as pb
from tests.consensus.harness import consensus_server, register
from tests.round_trips import counting_round_trips

MEASUREMENTS = 4


async def test_a_heartbeat_is_one_round_trip_and_refusals_still_explain_themselves(
    fresh_database_url: str, tmp_path: Path
) -> None:
    async with (
        counting_round_trips(fresh_database_url) as (counter, url),
        consensus_server(url, tmp_path) as server,
    ):
        member = await register(server, "ARIA")
        counts = []
        for _ in range(3 + MEASUREMENTS):
            before = counter.round_trips
            renewed = await server.stub.Heartbeat(heartbeat_request(member.key, member.instance_id))
            counts.append(counter.round_trips - before)
            assert renewed.instance.status == pb.INSTANCE_STATUS_ACTIVE
        assert min(counts[3:]) == 1

        # The same signed request again is accepted as the same request (the locked way answers it).
        repeated = heartbeat_request(member.key, member.instance_id)
        await server.stub.Heartbeat(repeated)
        again = await server.stub.Heartbeat(repeated)
        assert again.instance.instance_id == member.instance_id
        with pytest.raises(grpc.aio.AioRpcError) as forged:
            await server.stub.Heartbeat(heartbeat_request(Ed25519PrivateKey.generate(), member.instance_id))
        assert forged.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # The key is known to this replica, but the row is deregistered: no lease renewed.
        await server.stub.DeregisterInstance(deregister_request(member.key, member.instance_id))
        with pytest.raises(grpc.aio.AioRpcError) as deregistered:
            await server.stub.Heartbeat(heartbeat_request(member.key, member.instance_id))
        assert deregistered.value.code() == grpc.StatusCode.FAILED_PRECONDITION
