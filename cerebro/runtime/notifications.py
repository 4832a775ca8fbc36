"""PostgreSQL LISTEN/NOTIFY: one listening connection per process, calling back on each notification.

Writers notify inside their transaction, so every process hears of a change exactly when it
commits, whichever replica made it. Notifications are a fast path only: whatever they announce must
also be found by a poll or a cache expiry, because a lost connection drops the notifications sent
meanwhile. So after every (re)connect the ``on_reconnect`` callbacks run, to catch up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from cerebro.runtime.database import Connection

log = logging.getLogger(__name__)

# The listening connection is probed this often, so a dead one is noticed within seconds.
LIVENESS_INTERVAL_SECONDS = 2.0
LIVENESS_TIMEOUT_SECONDS = 2.0
RECONNECT_MIN_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 5.0

Callback = Callable[[str], None]


async def notify(connection: Connection | asyncpg.Pool, channel: str, payload: str) -> None:
    """Announce a change on ``channel``; delivered when the surrounding transaction (if any) commits."""
    await connection.execute("SELECT pg_notify($1, $2)", channel, payload)


class Listener:
    """Calls the callbacks of a channel with each payload notified on it, reconnecting after every loss."""

    def __init__(self, dsn: str, name: str) -> None:
        self._dsn = dsn
        self._name = name
        self._callbacks: dict[str, list[Callback]] = {}
        self._reconnect_callbacks: list[Callable[[], None]] = []
        self._lost_callbacks: list[Callable[[], None]] = []
        self.listening = False

    def on(self, channel: str, callback: Callback) -> None:
        """Call ``callback(payload)`` for every notification on ``channel`` (register before :meth:`run`)."""
        self._callbacks.setdefault(channel, []).append(callback)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Called whenever listening (re)starts: notifications may have been missed before it."""
        self._reconnect_callbacks.append(callback)

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Called when a listening connection is lost: from now on notifications are missed."""
        self._lost_callbacks.append(callback)

    async def run(self) -> None:
        """Listen until cancelled (a background task); while PostgreSQL is unreachable, keep trying."""
        delay = RECONNECT_MIN_SECONDS
        while True:
            try:
                await self._listen_until_lost()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                level = logging.WARNING if self.listening else logging.DEBUG
                log.log(level, "%s notifications: connection lost or unavailable: %s", self._name, exc)
            if self.listening:
                self.listening = False
                delay = RECONNECT_MIN_SECONDS
                self._call_all(self._lost_callbacks)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _listen_until_lost(self) -> None:
        connection = await asyncpg.connect(
            self._dsn,
            timeout=LIVENESS_TIMEOUT_SECONDS * 2,
            # How an operator tells this connection apart in pg_stat_activity.
            server_settings={"application_name": f"cerebro {self._name} listener"},
        )
        try:
            for channel in self._callbacks:
                await connection.add_listener(channel, self._received)
            self.listening = True
            self._call_all(self._reconnect_callbacks)
            while True:
                await asyncio.sleep(LIVENESS_INTERVAL_SECONDS)
                await asyncio.wait_for(connection.fetchval("SELECT 1"), LIVENESS_TIMEOUT_SECONDS)
        finally:
            connection.terminate()

    def _received(self, _connection: object, _pid: int, channel: str, payload: object) -> None:
        for callback in self._callbacks.get(channel, ()):
            try:
                callback(str(payload))
            except Exception:
                log.exception("%s notifications: a callback of %s failed", self._name, channel)

    def _call_all(self, callbacks: list[Callable[[], None]]) -> None:
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("%s notifications: a callback failed", self._name)
