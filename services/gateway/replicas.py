"""The replicas of one downstream service: a channel each, health, balancing, and failover.

Each replica's health is watched (``grpc.health.v1.Health/Watch`` for the service itself): a replica
gets calls only while it reports SERVING, so one whose dependency is down, one that shuts down, and an
address that is not a replica of this service at all get none. Under TLS the channel also accepts only
a server whose certificate proves the service's role (cerebro.runtime.roles), so whatever address
discovery hands over, only a real replica can ever be SERVING.

A call goes to a serving replica of the preferred region when one is usable, and among those to the one
with the fewest calls in flight (ties in turn). While none serves, a call waits a little for one (within
its deadline), then fails with UNAVAILABLE. A replica that fails a call (UNAVAILABLE, or CANCELLED while
it shuts down) is set aside for a cooldown that grows while it keeps failing. Only idempotent calls are
tried again, on another replica when there is one, within the caller's deadline: a non-idempotent call
may have been applied before its replica went away, so its error goes back to the caller.

The set of replicas comes from discovery; while it knows none, the static ``CEREBRO_<SERVICE>_TARGET``
is the one replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cerebro.runtime.channels import open_channel
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.roles import Role
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
# How long a call waits for a serving replica when none is (one starting, or all briefly NOT_SERVING).
SERVING_WAIT_SECONDS = 2.0
HEALTH_RETRY_MIN_SECONDS = 0.2
HEALTH_RETRY_MAX_SECONDS = 5.0


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
    # As the replica's own health service last said (True from the start when health is not watched).
    serving: bool = False
    health_watch: asyncio.Task[None] | None = None


def no_serving_replica(service: str) -> grpc.aio.AioRpcError:
    """The error of a call that found no serving replica: retryable, as any other UNAVAILABLE."""
    return grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(),
        details=f"no {service} replica is serving",
    )


class ReplicaPool(Generic[StubT]):
    def __init__(
        self,
        service: str,
        make_stub: Callable[[grpc.aio.Channel], StubT],
        static_target: str,
        tls: TlsSettings | None,
        preferred_region: str,
        *,
        health_service: str | None,
        clock: Callable[[], float] = time.monotonic,
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    ) -> None:
        """``service`` is the role a replica must prove under TLS; ``health_service`` the name whose health
        is watched (None: not watched, every replica is taken as serving); ``interceptors`` run on every
        replica's channel."""
        self._interceptors = interceptors
        self.service = service
        self._role = Role(service)
        self._health_service = health_service
        # Set (and replaced) whenever a replica starts serving: what calls wait on while none does.
        self._became_serving = asyncio.Event()
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
            channel = open_channel(
                target,
                self._tls,
                server_role=self._role,
                timeout_seconds=CHANNEL_TIMEOUT_SECONDS,
                max_attempts=1,
                interceptors=self._interceptors,
            )
            replica = Replica(target, region, channel, self._make_stub(channel), static=static)
            self._replicas[target] = replica
            if self._health_service is None:
                replica.serving = True
            else:
                replica.health_watch = asyncio.get_running_loop().create_task(
                    self._watch_health(replica, self._health_service), name=f"health of {self.service} {target}"
                )
            log.info("%s replica %s (%s) joined the pool", self.service, target, region)

    def _retire(self, replica: Replica[StubT]) -> None:
        log.info("%s replica %s left the pool", self.service, replica.target)
        replica.serving = False
        if replica.health_watch is not None:
            replica.health_watch.cancel()
        task = asyncio.get_running_loop().create_task(replica.channel.close(grace=CLOSE_GRACE_SECONDS))
        self._closing[task] = replica.channel
        task.add_done_callback(lambda done: self._closing.pop(done, None))

    async def _watch_health(self, replica: Replica[StubT], service: str) -> None:
        """Keep ``replica.serving`` what its health service says, until the replica leaves the pool."""
        stub = health_pb2_grpc.HealthStub(replica.channel)
        delay = HEALTH_RETRY_MIN_SECONDS
        while True:
            why = "the health watch ended"
            try:
                async for reply in stub.Watch(health_pb2.HealthCheckRequest(service=service)):
                    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                    self._set_serving(replica, reply.status == health_pb2.HealthCheckResponse.SERVING, status)
                    delay = HEALTH_RETRY_MIN_SECONDS
            except grpc.aio.AioRpcError as error:
                why = f"{error.code().name}: {error.details()}"
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                why = "its channel was closed"  # under the watch, not by this task's cancellation
            self._set_serving(replica, False, why)
            await asyncio.sleep(delay)
            delay = min(delay * 2, HEALTH_RETRY_MAX_SECONDS)

    def _set_serving(self, replica: Replica[StubT], serving: bool, why: str) -> None:
        if serving == replica.serving:
            return
        replica.serving = serving
        if serving:
            log.info("%s replica %s is serving", self.service, replica.target)
            self._became_serving.set()
            self._became_serving = asyncio.Event()
        else:
            log.warning("%s replica %s gets no calls: not serving (%s)", self.service, replica.target, why)

    async def wait_for_serving(self, deadline: Deadline) -> None:
        """Return once a replica serves; UNAVAILABLE after SERVING_WAIT_SECONDS (within the deadline)."""
        if any(replica.serving for replica in self._replicas.values()):
            return
        wait = SERVING_WAIT_SECONDS
        if deadline.expires_at is not None:
            wait = min(wait, max(0.0, deadline.expires_at - time.monotonic()))
        try:
            await asyncio.wait_for(self._became_serving.wait(), wait)
        except TimeoutError:
            raise no_serving_replica(self.service) from None

    def choose(self, avoid: set[str] | frozenset[str] = frozenset()) -> Replica[StubT]:
        """The serving replica for the next call, avoiding ``avoid`` (targets already tried) when it can.

        Raises UNAVAILABLE (as ``grpc.aio.AioRpcError``) when no replica serves.
        """
        now = self._clock()
        serving = [r for r in self._replicas.values() if r.serving]
        if not serving:
            raise no_serving_replica(self.service)
        candidates = [r for r in serving if r.target not in avoid] or serving
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
            await self.wait_for_serving(deadline)
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
                if tried >= {r.target for r in self._replicas.values() if r.serving}:
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
        watches = [r.health_watch for r in self._replicas.values() if r.health_watch is not None]
        for watch in watches:
            watch.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
        for replica in self._replicas.values():
            await replica.channel.close()
        self._replicas.clear()
        closing = dict(self._closing)
        for task in closing:
            task.cancel()
        await asyncio.gather(*closing, return_exceptions=True)
        for channel in closing.values():
            await channel.close()
