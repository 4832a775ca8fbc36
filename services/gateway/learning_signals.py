"""Wake-ups from the learnings channel: of the learning delivery worker, and of each namespace's streams.

Notifications are only a fast path: the worker and the streams also look again every
``CEREBRO_GATEWAY_LEARNING_POLL_SECONDS``, so a lost notification delays a learning but never loses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class LearningSignals:
    """Wake-ups from LEARNINGS_CHANNEL notifications: of the store loop, and of each namespace's streams."""

    def __init__(self) -> None:
        self.store_wanted = asyncio.Event()
        self._streams: dict[str, set[asyncio.Event]] = {}

    def notified(self, payload: str) -> None:
        if payload:
            for event in self._streams.get(payload, ()):
                event.set()
        else:
            self.store_wanted.set()

    def wake_all(self) -> None:
        self.store_wanted.set()
        for events in self._streams.values():
            for event in events:
                event.set()

    @contextmanager
    def stream_waiter(self, namespace: str) -> Iterator[asyncio.Event]:
        """An event set whenever a delivery of ``namespace`` was stored, for the ``with`` block."""
        event = asyncio.Event()
        self._streams.setdefault(namespace, set()).add(event)
        try:
            yield event
        finally:
            events = self._streams[namespace]
            events.discard(event)
            if not events:
                del self._streams[namespace]
