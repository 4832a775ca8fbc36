"""Watchers are capped per kind: however many proposal watches agents hold, instance watches still open."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from cerebro.consensus.v1 import consensus_pb2 as pb
from tests.consensus.harness import consensus_server, next_message, register


async def test_proposal_watchers_cannot_crowd_out_instance_watchers(fresh_database_url: str, tmp_path: Path) -> None:
    async with consensus_server(fresh_database_url, tmp_path, {"CEREBRO_CONSENSUS_MAX_WATCHERS": "2"}) as server:
        await register(server, "NEXUS")
        proposals = [server.stub.WatchProposals(pb.WatchProposalsRequest(), timeout=30) for _ in range(2)]
        try:
            for watch in proposals:  # open, waiting for changes
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(watch.read()), 0.5)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await next_message(server.stub.WatchProposals(pb.WatchProposalsRequest(), timeout=30))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            instances = server.stub.WatchInstances(pb.WatchInstancesRequest(), timeout=30)
            first = await next_message(instances)
            assert first.event_type == pb.INSTANCE_EVENT_TYPE_EXISTING
            instances.cancel()
        finally:
            for watch in proposals:
                watch.cancel()
