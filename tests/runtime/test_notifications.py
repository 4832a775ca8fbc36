"""LISTEN/NOTIFY on the real embedded PostgreSQL: delivery at commit, and recovery from a lost connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from cerebro.runtime.notifications import Listener, notify
from tests.support import eventually

CHANNEL = "cerebro_test_channel"


@pytest.fixture
async def listening(postgres_url: str) -> AsyncIterator[tuple[Listener, list[str], list[str]]]:
    listener = Listener(postgres_url, "test")
    payloads: list[str] = []
    events: list[str] = []
    listener.on(CHANNEL, payloads.append)
    listener.on_reconnect(lambda: events.append("connected"))
    listener.on_lost(lambda: events.append("lost"))
    task = asyncio.create_task(listener.run())
    await eventually(lambda: listener.listening)
    yield listener, payloads, events
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_notification_arrives_when_its_transaction_commits(
    postgres_url: str, listening: tuple[Listener, list[str], list[str]]
) -> None:
    _, payloads, _ = listening
    connection = await asyncpg.connect(postgres_url)
    try:
        async with connection.transaction():
            await notify(connection, CHANNEL, "first")
            await asyncio.sleep(0.2)
            assert payloads == []
        await eventually(lambda: payloads == ["first"])
        # A rolled-back change is never announced.
        with pytest.raises(RuntimeError):
            async with connection.transaction():
                await notify(connection, CHANNEL, "rolled back")
                raise RuntimeError("abort")
        await notify(connection, CHANNEL, "second")
        await eventually(lambda: payloads == ["first", "second"])
    finally:
        await connection.close()


async def test_a_killed_connection_is_noticed_reopened_and_reported(
    postgres_url: str, listening: tuple[Listener, list[str], list[str]]
) -> None:
    listener, payloads, events = listening
    connection = await asyncpg.connect(postgres_url)
    try:
        killed = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            "cerebro test listener",
        )
        assert killed >= 1
        await eventually(lambda: events[-2:] == ["lost", "connected"] and listener.listening)
        await notify(connection, CHANNEL, "after the loss")
        await eventually(lambda: payloads == ["after the loss"])
    finally:
        await connection.close()
