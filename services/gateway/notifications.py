"""The gateway's PostgreSQL notifications: one LISTEN connection per process, with callbacks.

Writers notify inside their transaction, so every replica hears of a change when it commits:
credential changes (revocations, grants) invalidate the authentication caches at once, and
learning changes wake the learning store loop and the subscribers' streams. Notifications are a
fast path only: whatever they announce is also found by the periodic polls and cache expiry, so a
lost connection delays work but loses none. After every reconnect ``on_reconnect`` callbacks run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

# Payload "key:<key_id>", "cert:<identity>" or "grants:<grantee namespace>".
CREDENTIALS_CHANNEL = "cerebro_gateway_credentials"
# Payload "" (a delivery waits to be stored) or a namespace (a delivery of it was stored).
LEARNINGS_CHANNEL = "cerebro_gateway_learnings"

LIVENESS_INTERVAL_SECONDS = 2.0
LIVENESS_TIMEOUT_SECONDS = 2.0
RECONNECT_MAX_SECONDS = 5.0

Callback = Callable[[str], None]


async def notify(connection: asyncpg.Connection | asyncpg.Pool, channel: str, payload: str) -> None:
    """Announce a change; delivered when the surrounding transaction (if any) commits."""
    await connection.execute("SELECT pg_notify($1, $2)", channel, payload)


class Listener:
    """Calls the callbacks of a channel with each payload notified on it."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._callbacks: dict[str, list[Callback]] = {}
        self._reconnect_callbacks: list[Callable[[], None]] = []
        self.listening = False

    def on(self, channel: str, callback: Callback) -> None:
        self._callbacks.setdefault(channel, []).append(callback)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Called whenever listening (re)starts: notifications may have been missed before it."""
        self._reconnect_callbacks.append(callback)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after every loss (a background task)."""
        delay = 0.2
        while True:
            try:
                await self._listen_until_lost()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                level = logging.WARNING if self.listening else logging.DEBUG
                log.log(level, "gateway notifications: connection lost or unavailable: %s", exc)
            if self.listening:
                delay = 0.2
            self.listening = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _listen_until_lost(self) -> None:
        connection = await asyncpg.connect(self._dsn, timeout=LIVENESS_TIMEOUT_SECONDS * 2)
        try:
            for channel in self._callbacks:
                await connection.add_listener(channel, self._received)
            self.listening = True
            for callback in self._reconnect_callbacks:
                callback()
            while True:
                await asyncio.sleep(LIVENESS_INTERVAL_SECONDS)
                await asyncio.wait_for(connection.fetchval("SELECT 1"), LIVENESS_TIMEOUT_SECONDS)
        finally:
            connection.terminate()

    def _received(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        for callback in self._callbacks.get(channel, ()):
            try:
                callback(payload)
            except Exception:
                log.exception("gateway notifications: a callback of %s failed", channel)
