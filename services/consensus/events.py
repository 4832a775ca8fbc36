"""Change notifications: PostgreSQL NOTIFY from every replica, fanned out to this process's watchers.

Writers call :func:`notify` inside their transaction, so a notification is delivered exactly when
the change commits, by whichever replica made it. Each process keeps one LISTEN connection
(:class:`EventHub`), loads the changed object once per notification (only when someone watches),
and offers it to every matching watcher's bounded queue. A watcher that falls behind, or every
watcher when the LISTEN connection is lost, is ended with an error and must watch again: a gap in
the stream is never silent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from cerebro.runtime.errors import ServiceError, resource_exhausted, unavailable

log = logging.getLogger(__name__)

INSTANCES_CHANNEL = "cerebro_consensus_instances"
PROPOSALS_CHANNEL = "cerebro_consensus_proposals"

# The LISTEN connection is probed this often, so a dead one is noticed within seconds.
LIVENESS_INTERVAL_SECONDS = 2.0
LIVENESS_TIMEOUT_SECONDS = 2.0
SUBSCRIBE_WAIT_SECONDS = 2.0
RECONNECT_MIN_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 5.0
# Notifications waiting to be loaded; beyond this the hub is overwhelmed and every watcher re-watches.
MAX_PENDING_NOTIFICATIONS = 10_000


@dataclass(frozen=True)
class Change:
    """What a notification says: which object changed, and how (e.g. "registered", "voted")."""

    subject_id: str
    event: str


@dataclass(frozen=True)
class Delivery:
    """A change with the changed object as loaded after it."""

    change: Change
    subject: Any


Loader = Callable[[Change], Awaitable[Any]]
"""Loads the changed object (instances and proposals are never deleted, so it always exists)."""


async def notify(connection: asyncpg.Connection, channel: str, subject_id: str, event: str) -> None:
    """Announce a change; delivered to every listener when the surrounding transaction commits."""
    await connection.execute("SELECT pg_notify($1, $2)", channel, json.dumps({"id": subject_id, "event": event}))


class Subscription:
    """One watcher's bounded queue of deliveries; it ends with an error instead of skipping any."""

    def __init__(self, subject_id: str | None, limit: int) -> None:
        self.subject_id = subject_id
        self._limit = limit
        self._queue: asyncio.Queue[Delivery | None] = asyncio.Queue()
        self._failure: ServiceError | None = None

    def offer(self, delivery: Delivery) -> None:
        if self._failure is not None:
            return
        if self._queue.qsize() >= self._limit:
            self.fail(resource_exhausted("the watcher fell behind the changes; watch again", 1.0))
            return
        self._queue.put_nowait(delivery)

    def fail(self, error: ServiceError) -> None:
        if self._failure is None:
            self._failure = error
            self._queue.put_nowait(None)

    async def next(self) -> Delivery:
        delivery = await self._queue.get()
        if delivery is None:
            assert self._failure is not None
            raise self._failure
        return delivery


class EventHub:
    """The process's LISTEN connection and its watchers."""

    def __init__(self, dsn: str, loaders: dict[str, Loader], *, queue_size: int, max_watchers: int) -> None:
        self._dsn = dsn
        self._loaders = loaders
        self._queue_size = queue_size
        self._max_watchers = max_watchers
        self._subscriptions: dict[str, set[Subscription]] = {channel: set() for channel in loaders}
        self._listening = asyncio.Event()

    @asynccontextmanager
    async def subscribe(self, channel: str, subject_id: str | None = None) -> AsyncIterator[Subscription]:
        """Watch ``channel`` (only changes of ``subject_id`` when given) for the ``with`` block."""
        try:
            # Just after start, or during a reconnect, give the LISTEN connection a moment.
            await asyncio.wait_for(self._listening.wait(), SUBSCRIBE_WAIT_SECONDS)
        except TimeoutError:
            raise unavailable("change notifications are unavailable while PostgreSQL is unreachable") from None
        # A cap per channel, so that however many proposal watches agents open (one per WatchDecisions
        # at the gateway), the mesh's own instance watches (discovery) still find room.
        if len(self._subscriptions[channel]) >= self._max_watchers:
            raise resource_exhausted(f"this server already has {self._max_watchers} watchers of {channel}", 5.0)
        subscription = Subscription(subject_id, self._queue_size)
        self._subscriptions[channel].add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions[channel].discard(subscription)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after every loss (a background task).

        Cancelled at shutdown, it ends every watch at once, so that open streams do not hold up the
        graceful stop for its whole grace period.
        """
        try:
            await self._listen_forever()
        finally:
            self._listening.clear()
            self._fail_all(unavailable("this server is shutting down; watch again"))

    async def _listen_forever(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            try:
                await self._listen_until_lost()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if self._listening.is_set():
                    log.warning("lost the PostgreSQL notification connection: %s", exc)
                else:
                    log.debug("cannot listen for notifications yet: %s", exc)
            except Exception:
                log.exception("delivering change notifications failed; reconnecting")
            if self._listening.is_set():
                delay = RECONNECT_MIN_SECONDS
            self._listening.clear()
            self._fail_all(unavailable("lost the change notifications from PostgreSQL; watch again"))
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _listen_until_lost(self) -> None:
        connection = await asyncpg.connect(self._dsn, timeout=LIVENESS_TIMEOUT_SECONDS * 2)
        pending: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

        def received(_connection: object, _pid: int, channel: str, payload: str) -> None:
            if pending.qsize() >= MAX_PENDING_NOTIFICATIONS:
                self._fail_all(resource_exhausted("too many changes to deliver; watch again", 1.0))
                return
            pending.put_nowait((channel, payload))

        try:
            for channel in self._loaders:
                await connection.add_listener(channel, received)
            self._listening.set()
            dispatcher = asyncio.create_task(self._dispatch(pending), name="consensus-event-dispatch")
            try:
                while not dispatcher.done():
                    await asyncio.sleep(LIVENESS_INTERVAL_SECONDS)
                    await asyncio.wait_for(connection.fetchval("SELECT 1"), LIVENESS_TIMEOUT_SECONDS)
                await dispatcher  # re-raises the failure that stopped it
            finally:
                dispatcher.cancel()
                await asyncio.gather(dispatcher, return_exceptions=True)
        finally:
            connection.terminate()

    async def _dispatch(self, pending: asyncio.Queue[tuple[str, str]]) -> None:
        while True:
            channel, payload = await pending.get()
            document = json.loads(payload)
            change = Change(subject_id=document["id"], event=document["event"])
            watchers = [
                subscription
                for subscription in self._subscriptions[channel]
                if subscription.subject_id in (None, change.subject_id)
            ]
            if not watchers:
                continue
            subject = await self._loaders[channel](change)
            for subscription in watchers:
                subscription.offer(Delivery(change, subject))

    def _fail_all(self, error: ServiceError) -> None:
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.fail(error)
