"""Change notifications: PostgreSQL NOTIFY from every replica, fanned out to this process's watchers.

Writers call :func:`notify_change` inside their transaction, so a notification is delivered exactly
when the change commits, by whichever replica made it. Each process listens through one
:class:`cerebro.runtime.notifications.Listener` (:class:`EventHub`), loads the changed object once per
notification (only when someone watches), and offers it to every matching watcher's bounded queue.
A watcher that falls behind, every watcher when the listening connection is lost, and the watchers
of a change that could not be loaded are ended with an error and must watch again: a gap in the
stream is never silent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from cerebro.runtime.database import Connection
from cerebro.runtime.errors import ServiceError, resource_exhausted, unavailable
from cerebro.runtime.notifications import Listener, notify

log = logging.getLogger(__name__)

INSTANCES_CHANNEL = "cerebro_consensus_instances"
PROPOSALS_CHANNEL = "cerebro_consensus_proposals"

SUBSCRIBE_WAIT_SECONDS = 2.0
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


async def notify_change(connection: Connection, channel: str, subject_id: str, event: str) -> None:
    """Announce a change; delivered to every listener when the surrounding transaction commits.

    The payload is what the SQL of the sweeps builds with json_build_object('id', ..., 'event', ...).
    """
    await notify(connection, channel, json.dumps({"id": subject_id, "event": event}))


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
    """The process's watchers, fed by one listening connection."""

    def __init__(self, dsn: str, loaders: dict[str, Loader], *, queue_size: int, max_watchers: int) -> None:
        self._loaders = loaders
        self._queue_size = queue_size
        self._max_watchers = max_watchers
        self._subscriptions: dict[str, set[Subscription]] = {channel: set() for channel in loaders}
        self._listening = asyncio.Event()
        self._pending: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._listener = Listener(dsn, "consensus")
        for channel in loaders:
            self._listener.on(channel, partial(self._received, channel))
        self._listener.on_reconnect(self._listening.set)
        self._listener.on_lost(self._lost)

    @asynccontextmanager
    async def subscribe(self, channel: str, subject_id: str | None = None) -> AsyncIterator[Subscription]:
        """Watch ``channel`` (only changes of ``subject_id`` when given) for the ``with`` block."""
        try:
            # Just after start, or during a reconnect, give the listening connection a moment.
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
        """Listen and deliver until cancelled (a background task).

        Cancelled at shutdown, it ends every watch at once, so that open streams do not hold up the
        graceful stop for its whole grace period.
        """
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._listener.run(), name="consensus-listener")
                tasks.create_task(self._deliver_forever(), name="consensus-deliveries")
        finally:
            self._listening.clear()
            self._fail_all(unavailable("this server is shutting down; watch again"))

    def _received(self, channel: str, payload: str) -> None:
        if self._pending.qsize() >= MAX_PENDING_NOTIFICATIONS:
            self._fail_all(resource_exhausted("too many changes to deliver; watch again", 1.0))
            return
        self._pending.put_nowait((channel, payload))

    def _lost(self) -> None:
        self._listening.clear()
        # Every watcher is ended below; what was heard before the loss concerns none of the next ones.
        while not self._pending.empty():
            self._pending.get_nowait()
        self._fail_all(unavailable("lost the change notifications from PostgreSQL; watch again"))

    async def _deliver_forever(self) -> None:
        while True:
            channel, payload = await self._pending.get()
            try:
                await self._deliver(channel, payload)
            except Exception:  # a database error while loading, or a payload not of ours
                log.exception("delivering a change on %s failed; its watchers must watch again", channel)
                for subscription in self._subscriptions[channel]:
                    subscription.fail(unavailable("a change could not be delivered; watch again"))

    async def _deliver(self, channel: str, payload: str) -> None:
        document = json.loads(payload)
        change = Change(subject_id=document["id"], event=document["event"])
        watchers = [
            subscription
            for subscription in self._subscriptions[channel]
            if subscription.subject_id in (None, change.subject_id)
        ]
        if watchers:
            subject = await self._loaders[channel](change)
            for subscription in watchers:
                subscription.offer(Delivery(change, subject))

    def _fail_all(self, error: ServiceError) -> None:
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.fail(error)
