"""Finding the replicas of memory, embedder and consensus in the instance registry.

Every Cerebro process registers with the consensus service under its process name as capability and
``grpc://host:port`` as endpoint (see cerebro.runtime.registration). :class:`Discovery` watches the
registry (WatchInstances: every instance, then every change) and gives each :class:`ReplicaPool` the
active replicas with its capability; a replica that deregisters or loses its lease leaves the pool
within moments. While the registry is unreachable the pools keep the last known replicas (calls to a
dead one fail over); a pool that knows none uses its static ``CEREBRO_<SERVICE>_TARGET``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import grpc

from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.consensus.v1 import consensus_pb2_grpc
from services.gateway.replicas import ReplicaPool

log = logging.getLogger(__name__)

ENDPOINT_SCHEME = "grpc://"
RETRY_MIN_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0


def endpoint_target(endpoint: str) -> str | None:
    """``host:port`` of a ``grpc://host:port`` endpoint; None for other kinds (``worker://...``)."""
    if not endpoint.startswith(ENDPOINT_SCHEME):
        return None
    target = endpoint[len(ENDPOINT_SCHEME) :].rstrip("/")
    return target or None


def active_replicas(instances: Mapping[str, pb.Instance], capability: str) -> dict[str, str]:
    """Target -> region of every endpoint of the active service replicas (WORKER instances) with ``capability``.

    Agents are never replicas, whatever capabilities they claim: the gateway lets them register only as
    PRIMARY or SPECIALIZED, so an agent cannot draw the mesh's traffic to an endpoint of its own.
    """
    replicas: dict[str, str] = {}
    for instance in instances.values():
        if (
            instance.status != pb.INSTANCE_STATUS_ACTIVE
            or instance.instance_type != pb.INSTANCE_TYPE_WORKER
            or capability not in instance.capabilities
        ):
            continue
        for endpoint in instance.endpoints:
            target = endpoint_target(endpoint)
            if target is not None:
                replicas[target] = instance.region
    return replicas


class Discovery:
    """Keeps each pool (by capability) in step with the registry, through the consensus pool."""

    def __init__(
        self,
        consensus: ReplicaPool[consensus_pb2_grpc.ConsensusServiceStub],
        pools: Mapping[str, ReplicaPool[Any]],
    ) -> None:
        self._consensus = consensus
        self._pools = pools
        # Instances are never deleted from the registry (they go offline), so this only ever grows.
        self._instances: dict[str, pb.Instance] = {}
        self.watching = False

    async def run(self) -> None:
        """Watch the registry until cancelled, watching again after every interruption."""
        delay = RETRY_MIN_SECONDS
        while True:
            replica = self._consensus.choose()
            try:
                await self._watch(replica.stub)
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.UNAVAILABLE:
                    self._consensus.report_unavailable(replica)
                level = logging.WARNING if self.watching else logging.DEBUG
                log.log(level, "instance registry watch interrupted: %s %s", error.code().name, error.details())
            except Exception:
                # A bug must not end discovery for good; the pools keep their replicas meanwhile.
                log.exception("instance registry watch failed")
            if self.watching:
                delay = RETRY_MIN_SECONDS
            self.watching = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _watch(self, stub: consensus_pb2_grpc.ConsensusServiceStub) -> None:
        stream = stub.WatchInstances(pb.WatchInstancesRequest())
        try:
            async for event in stream:
                self.watching = True
                self._instances[event.instance.instance_id] = event.instance
                self._apply()
        finally:
            stream.cancel()

    def _apply(self) -> None:
        for capability, pool in self._pools.items():
            pool.set_replicas(active_replicas(self._instances, capability))
