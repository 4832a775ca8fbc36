"""The replicas of one downstream service: a channel each, balancing, and failover.

A call goes to a replica of the preferred region when one is usable, and among those to the one with
the fewest calls in flight (ties in turn). A replica that fails a call (UNAVAILABLE, or CANCELLED
while it shuts down) is set aside for a cooldown that grows while it keeps failing. Only idempotent
calls are tried again, on another replica when there is one, within the caller's deadline: a
non-idempotent call may have been applied before its replica went away, so its error goes back to
the caller.

The set of replicas comes from discovery; while it knows none, the static ``CEREBRO_<SERVICE>_TARGET``
is the one replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import grpc

from cerebro.runtime.channels import open_channel
from cerebro.runtime.config import TlsSettings
from services.gateway.call import Deadline

log = logging.getLogger(__name__)

StubT = TypeVar("StubT")
ResultT = TypeVar("ResultT")

# Long-lived streams (watches, subscriptions) share the channel; unary calls always pass their own
# shorter timeout, so the channel's default only bounds streams (which servers recycle anyway).
CHANNEL_TIMEOUT_SECONDS = 24 * 3600.0
MAX_ATTEMPTS = 5
COOLDOWN_MIN_SECONDS = 0.5
COOLDOWN_MAX_SECONDS = 10.0
BACKOFF_MIN_SECONDS = 0.05
BACKOFF_MAX_SECONDS = 1.0
# Codes of a replica that did not serve the call: UNAVAILABLE, and CANCELLED from a server that
# shuts down (or a channel closed under the call); the gateway itself never cancels a downstream call
# this way (its own cancellation arrives as asyncio.CancelledError).
REPLICA_FAILURES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
# In-flight calls of a replica that left the pool get this long before its channel closes.
CLOSE_GRACE_SECONDS = 30.0


@dataclass(eq=False)
class Replica(Generic[StubT]):
    target: str
    region: str
    channel: grpc.aio.Channel
    stub: StubT
    in_flight: int = 0
    failures: int = 0
    unusable_until: float = 0.0
    static: bool = field(default=False)


class ReplicaPool(Generic[StubT]):
    def __init__(
        self,
        service: str,
        make_stub: Callable[[grpc.aio.Channel], StubT],
        static_target: str,
        tls: TlsSettings | None,
        preferred_region: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self._make_stub = make_stub
        self._static_target = static_target
        self._tls = tls
        self._preferred_region = preferred_region
        self._clock = clock
        self._turn = 0
        # Channels of replicas that left the pool, closing after a grace period.
        self._closing: dict[asyncio.Task[None], grpc.aio.Channel] = {}
        self._replicas: dict[str, Replica[StubT]] = {}
        self._use({static_target: preferred_region}, static=True)

    @property
    def replicas(self) -> list[Replica[StubT]]:
        return list(self._replicas.values())

    def set_replicas(self, regions_by_target: Mapping[str, str]) -> None:
        """Serve from these replicas (target -> region); from the static target when there are none."""
        if regions_by_target:
            self._use(regions_by_target, static=False)
        else:
            self._use({self._static_target: self._preferred_region}, static=True)

    def _use(self, regions_by_target: Mapping[str, str], *, static: bool) -> None:
        for target in list(self._replicas):
            if target not in regions_by_target or self._replicas[target].static != static:
                self._retire(self._replicas.pop(target))
        for target, region in regions_by_target.items():
            if target in self._replicas:
                self._replicas[target].region = region
                continue
            channel = open_channel(target, self._tls, timeout_seconds=CHANNEL_TIMEOUT_SECONDS, max_attempts=1)
            self._replicas[target] = Replica(target, region, channel, self._make_stub(channel), static=static)
            log.info("%s replica %s (%s) joined the pool", self.service, target, region)

    def _retire(self, replica: Replica[StubT]) -> None:
        log.info("%s replica %s left the pool", self.service, replica.target)
        task = asyncio.get_running_loop().create_task(replica.channel.close(grace=CLOSE_GRACE_SECONDS))
        self._closing[task] = replica.channel
        task.add_done_callback(lambda done: self._closing.pop(done, None))

    def choose(self, avoid: set[str] | frozenset[str] = frozenset()) -> Replica[StubT]:
        """The replica for the next call, avoiding ``avoid`` (targets already tried) when it can."""
        now = self._clock()
        candidates = [r for r in self._replicas.values() if r.target not in avoid] or list(self._replicas.values())
        usable = [r for r in candidates if r.unusable_until <= now] or candidates
        local = [r for r in usable if r.region == self._preferred_region] or usable
        fewest = min(r.in_flight for r in local)
        tied = [r for r in local if r.in_flight == fewest]
        self._turn += 1
        return tied[self._turn % len(tied)]

    def report_unavailable(self, replica: Replica[StubT]) -> None:
        replica.failures += 1
        cooldown = min(COOLDOWN_MIN_SECONDS * 2 ** (replica.failures - 1), COOLDOWN_MAX_SECONDS)
        replica.unusable_until = self._clock() + cooldown

    @staticmethod
    def report_success(replica: Replica[StubT]) -> None:
        replica.failures = 0
        replica.unusable_until = 0.0

    async def call(
        self,
        invoke: Callable[[StubT, float], Awaitable[ResultT]],
        deadline: Deadline,
        *,
        idempotent: bool,
    ) -> ResultT:
        """``invoke(stub, timeout)`` on a replica; idempotent calls fail over when a replica fails them.

        Raises the last ``grpc.aio.AioRpcError`` when no attempt succeeded.
        """
        tried: set[str] = set()
        attempt = 0
        while True:
            replica = self.choose(tried)
            replica.in_flight += 1
            try:
                result = await invoke(replica.stub, deadline.remaining())
            except grpc.aio.AioRpcError as error:
                if error.code() not in REPLICA_FAILURES:
                    raise
                self.report_unavailable(replica)
                attempt += 1
                if not idempotent or attempt >= MAX_ATTEMPTS:
                    raise
                log.debug("%s replica %s unavailable; trying again", self.service, replica.target)
                tried.add(replica.target)
                if tried >= self._replicas.keys():
                    # Every replica failed once: wait a little (within the deadline) and go round again.
                    pause = min(BACKOFF_MIN_SECONDS * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS)
                    if not deadline.allows_wait(pause):
                        raise
                    tried.clear()
                    await asyncio.sleep(pause)
                continue
            finally:
                replica.in_flight -= 1
            self.report_success(replica)
            return result

    async def close(self) -> None:
        for replica in self._replicas.values():
            await replica.channel.close()
        self._replicas.clear()
        closing = dict(self._closing)
        for task in closing:
            task.cancel()
        await asyncio.gather(*closing, return_exceptions=True)
        for channel in closing.values():
            await channel.close()
