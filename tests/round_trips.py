"""A loopback TCP proxy that counts network round trips between a client and PostgreSQL.

A round trip is a burst of bytes from the client that follows the server's last reply (or opens the
connection's exchange): the client sent, then had to wait for the server before it sent again. The
PostgreSQL protocol's messages that go out together (Parse/Bind/Execute/Sync, or pipelined queries)
are one burst; BEGIN, a statement and COMMIT sent one after the other's answer are three.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


@dataclass
class _Exchange:
    # Whether the server spoke last on this connection: the client's next bytes open a new round trip.
    server_spoke_last: bool = True


class RoundTripCounter:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.round_trips = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, upstream_writer}
        exchange = _Exchange()
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer, exchange, from_client=True),
            self._pipe(upstream_reader, client_writer, exchange, from_client=False),
            return_exceptions=True,
        )
        self._writers -= {client_writer, upstream_writer}

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, exchange: _Exchange, *, from_client: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if from_client and exchange.server_spoke_last:
                    self.round_trips += 1
                exchange.server_spoke_last = not from_client
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()


@contextlib.asynccontextmanager
async def counting_round_trips(database_url: str) -> AsyncIterator[tuple[RoundTripCounter, str]]:
    """A counting proxy to the server of ``database_url``, and the same URL through the proxy."""
    parts = urlsplit(database_url)
    assert parts.hostname is not None and parts.port is not None
    counter = RoundTripCounter(parts.hostname, parts.port)
    await counter.start()
    credentials = parts.netloc.rsplit("@", 1)[0]
    try:
        yield counter, urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{counter.port}"))
    finally:
        await counter.stop()
