"""Finding the replicas of memory, embedder and consensus in the instance registry.

Every Cerebro process registers with the consensus service under its process name as capability and
``grpc://host:port`` as endpoint (see cerebro.runtime.registration). :class:`Discovery` watches the
registry (WatchInstances: every instance, then every change) and gives each :class:`ReplicaPool` the
active replicas with its capability; a replica that deregisters or loses its lease leaves the pool
within moments. While the registry is unreachable the pools keep the last known replicas (calls to a
dead one fail over); a pool that knows none uses its static ``CEREBRO_<SERVICE>_TARGET``.

The watch never ends for good: whatever ends it (the consensus replica restarting or leaving, its channel
closed when discovery itself moves the consensus pool to another replica, a bug) is logged and it
watches again, with backoff. Only the gateway's own shutdown (cancelling :meth:`Discovery.run`) stops it.

A registration is a claim, not a proof: the pools give a discovered replica calls only once its
certificate proved the capability's role and it reports SERVING (services.gateway.replicas). Without
mutual TLS nothing could be proved, so the gateway does not run discovery at all (services.gateway.assembly).
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
        consensus: ReplicaPool[consensus_pb2_grpc.ConsensusServiceAsyncStub],
        pools: Mapping[str, ReplicaPool[Any]],
    ) -> None:
        self._consensus = consensus
        self._pools = pools
        # Instances are never deleted from the registry (they go offline), so this only ever grows.
        self._instances: dict[str, pb.Instance] = {}
        self.watching = False

    async def run(self) -> None:
        """Watch the registry until cancelled, watching again (with backoff) after whatever ends a watch."""
        delay = RETRY_MIN_SECONDS
        while True:
            ended = await self._watch_once()
            if self.watching:
                delay = RETRY_MIN_SECONDS
            # Warn when a working watch ends; while the registry stays unreachable, say so only once.
            level = logging.WARNING if self.watching else logging.DEBUG
            log.log(level, "instance registry watch ended (%s); watching again in %.1f s", ended, delay)
            self.watching = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _watch_once(self) -> str:
        """Watch on one consensus replica until the watch ends; returns why it ended."""
        try:
            replica = self._consensus.choose()
        except grpc.aio.AioRpcError as error:
            return error.details() or error.code().name
        try:
            await self._watch(replica.stub)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                self._consensus.report_unavailable(replica)
            return f"{error.code().name}: {error.details()}"
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the gateway is stopping
            # Not this task's cancellation: the replica's channel was closed under the watch (it left the pool).
            return f"the channel to {replica.target} was closed"
        except Exception:
            # A bug must not end discovery for good; the pools keep their replicas meanwhile.
            log.exception("instance registry watch failed")
            return "an unexpected error"
        return f"{replica.target} ended the stream"

    async def _watch(self, stub: consensus_pb2_grpc.ConsensusServiceAsyncStub) -> None:
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
