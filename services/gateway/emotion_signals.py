"""Wake-ups of the WatchSharedEmotionalState streams from EMOTIONS_CHANNEL notifications.

A stream re-reads the shared state when woken, so a wake-up need not say what changed. Notifications
are lost only while the listening connection is down; the listener's reconnect wakes every stream
(:meth:`EmotionSignals.wake_all`), which then reads the state it missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class EmotionSignals:
    """One event per open watch stream, set whenever a shared emotion may have changed."""

    def __init__(self) -> None:
        self._streams: set[asyncio.Event] = set()

    def notified(self, _payload: str) -> None:
        self.wake_all()

    def wake_all(self) -> None:
        for event in self._streams:
            event.set()

    @contextmanager
    def stream_waiter(self) -> Iterator[asyncio.Event]:
        """An event set at every change of the shared state, for the ``with`` block."""
        event = asyncio.Event()
        self._streams.add(event)
        try:
            yield event
        finally:
            self._streams.discard(event)
