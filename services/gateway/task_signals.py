"""Wake-ups of task streams from TASKS_CHANNEL notifications: an inbox when a task is assigned to its
instance, a watcher when its task changed.

Notifications are only a fast path: every stream also looks again every
``CEREBRO_GATEWAY_TASK_POLL_SECONDS``, so a lost notification delays a task but never loses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class TaskSignals:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def notified(self, payload: str) -> None:
        for event in self._waiters.get(payload, ()):
            event.set()

    def wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()

    @contextmanager
    def waiter(self, payload: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``payload`` is notified, for the ``with`` block."""
        event = asyncio.Event()
        self._waiters.setdefault(payload, set()).add(event)
        try:
            yield event
        finally:
            events = self._waiters[payload]
            events.discard(event)
            if not events:
                del self._waiters[payload]
