"""The link's latency (tests/tcp_proxy.py, which every region's link is made of): applied once per
direction, as set, to a stream as a whole rather than per chunk; and its count of round trips."""

from __future__ import annotations

import asyncio
import time

from tests.tcp_proxy import TcpProxy

LOOPBACK = "127.0.0.1"
CHUNKS = 20


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _round_trip(to_core: float, from_core: float) -> tuple[float, float, bytes]:
    """Seconds for one byte there and back, seconds for CHUNKS chunks sent at once, and what came back."""
    server = await asyncio.start_server(_echo, LOOPBACK, 0)
    proxy = TcpProxy(LOOPBACK, server.sockets[0].getsockname()[1])
    proxy.to_target_seconds, proxy.from_target_seconds = to_core, from_core
    await proxy.start()
    try:
        reader, writer = await asyncio.open_connection(LOOPBACK, proxy.port)
        started = time.monotonic()
        writer.write(b"?")
        await reader.readexactly(1)
        single = time.monotonic() - started
        assert proxy.round_trips == 1
        sent = b"".join(bytes([65 + index]) * 1000 for index in range(CHUNKS))
        started = time.monotonic()
        for index in range(CHUNKS):
            writer.write(sent[index * 1000 : (index + 1) * 1000])
            await writer.drain()
            await asyncio.sleep(0.001)
        received = await reader.readexactly(len(sent))
        stream = time.monotonic() - started
        writer.close()
        return single, stream, received if received == sent else b""
    finally:
        await proxy.stop()
        server.close()


def test_latency_is_paid_once_per_direction_and_streams_keep_their_order() -> None:
    single, stream, received = asyncio.run(_round_trip(0.03, 0.05))
    # Both directions' delays are applied: never faster than their sum.
    assert single >= 0.08
    assert received, "the stream arrived reordered or incomplete"
    # Twenty chunks in flight pay the round trip about once, not twenty times (1.6 s).
    assert 0.08 <= stream < 0.08 * CHUNKS / 2
