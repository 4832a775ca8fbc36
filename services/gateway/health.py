"""The comprehensive health of GetHealth: PostgreSQL, notifications, and every replica of each dependency.

The replicas' health is what the replica pools watch and route by (services.gateway.replicas); the
PostgreSQL check is short, and the result is reused for a second, so that GetHealth, which needs no
credentials, cannot be used to flood the dependencies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from google.protobuf import timestamp_pb2

from cerebro.gateway.v1 import gateway_pb2, resources_pb2
from cerebro.runtime.database import check_connection
from cerebro.runtime.notifications import Listener
from services.gateway.replicas import ReplicaPool

CHECK_TIMEOUT_SECONDS = 1.0
REUSE_SECONDS = 1.0
# Without these the gateway cannot serve; the others only reduce what it does.
ESSENTIAL = {"postgres", "memory", "consensus"}

SERVING = resources_pb2.HEALTH_STATUS_SERVING
DEGRADED = resources_pb2.HEALTH_STATUS_DEGRADED
NOT_SERVING = resources_pb2.HEALTH_STATUS_NOT_SERVING


def overall_status(components: Sequence[resources_pb2.ComponentHealth]) -> resources_pb2.HealthStatus.ValueType:
    if any(c.status == NOT_SERVING and c.name in ESSENTIAL for c in components):
        return NOT_SERVING
    if any(c.status != SERVING for c in components):
        return DEGRADED
    return SERVING


class HealthChecker:
    def __init__(self, pool: asyncpg.Pool, listener: Listener, replicas: dict[str, ReplicaPool[Any]]) -> None:
        self._pool = pool
        self._listener = listener
        self._replicas = replicas
        self._last: tuple[float, gateway_pb2.GetHealthResponse] | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> gateway_pb2.GetHealthResponse:
        async with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < REUSE_SECONDS:
                return self._last[1]
            components = [
                await self._postgres(),
                self._notifications(),
                *(self._service(name, pool) for name, pool in self._replicas.items()),
            ]
            checked = timestamp_pb2.Timestamp()
            checked.GetCurrentTime()
            response = gateway_pb2.GetHealthResponse(
                status=overall_status(components), components=components, check_time=checked
            )
            self._last = (time.monotonic(), response)
            return response

    async def _postgres(self) -> resources_pb2.ComponentHealth:
        try:
            await asyncio.wait_for(check_connection(self._pool), CHECK_TIMEOUT_SECONDS)
        except Exception as exc:  # any failure means PostgreSQL is not usable
            return resources_pb2.ComponentHealth(
                name="postgres", status=NOT_SERVING, replicas=1, message=f"unreachable: {type(exc).__name__}"
            )
        return resources_pb2.ComponentHealth(name="postgres", status=SERVING, replicas=1, serving_replicas=1)

    def _notifications(self) -> resources_pb2.ComponentHealth:
        if self._listener.listening:
            return resources_pb2.ComponentHealth(name="notifications", status=SERVING, replicas=1, serving_replicas=1)
        return resources_pb2.ComponentHealth(
            name="notifications",
            status=NOT_SERVING,
            replicas=1,
            message="not listening; revocations wait for the cache to expire and learnings for the next poll",
        )

    @staticmethod
    def _service(name: str, pool: ReplicaPool[Any]) -> resources_pb2.ComponentHealth:
        # What the pool routes by: each replica's own health, as its watch last reported it.
        replicas = pool.replicas
        serving = sum(replica.serving for replica in replicas)
        status = SERVING if serving == len(replicas) else DEGRADED if serving else NOT_SERVING
        message = "" if status == SERVING else f"{len(replicas) - serving} of {len(replicas)} replicas not serving"
        return resources_pb2.ComponentHealth(
            name=name, status=status, replicas=len(replicas), serving_replicas=serving, message=message
        )
