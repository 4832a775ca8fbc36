"""A TCP proxy for tests: cut and restored (a real network outage of one dependency), delaying what it
forwards (distance), and counting network round trips between a client and its server.

Latency is one-way and per direction (towards the target, back from it), so a link can be asymmetric.
Each chunk is stamped when it arrives and forwarded once its delay has passed, without waiting for the
chunks behind it: a stream keeps its throughput and pays the delay once, as on a long wire, rather
than once per chunk.

A round trip is a burst of bytes from the client that follows the server's last reply (or opens the
connection's exchange): the client sent, then had to wait for the server before it sent again. The
PostgreSQL protocol's messages that go out together (Parse/Bind/Execute/Sync, or pipelined queries)
are one burst; BEGIN, a statement and COMMIT sent one after the other's answer are three.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


@dataclass
class _Exchange:
    # Whether the server spoke last on this connection: the client's next bytes open a new round trip.
    server_spoke_last: bool = True


class TcpProxy:
    def __init__(
        self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1", listen_port: int = 0
    ) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.listen_host = listen_host
        self.port = listen_port
        # One-way latency towards the target, and back from it.
        self.to_target_seconds = 0.0
        self.from_target_seconds = 0.0
        self.round_trips = 0

    async def start(self) -> None:
        """Listen (again, on the same port after :meth:`cut`)."""
        self._server = await asyncio.start_server(self._accept, self.listen_host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and break every open one."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def stop(self) -> None:
        await self.cut()

    async def least_round_trips(
        self, call: Callable[[], Awaitable[object]], *, warm_up: int = 3, measurements: int = 4
    ) -> int:
        """The fewest round trips one of several ``call``s made, after warm-up calls (statements prepared,
        caches filled): other connections' statements (a sweeper's, a monitor's) may add to any one count."""
        for _ in range(warm_up):
            await call()
        counts = []
        for _ in range(measurements):
            before = self.round_trips
            await call()
            counts.append(self.round_trips - before)
        return min(counts)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        if self._server is None:
            # Cut while this connection was being made: it must not outlive the cut.
            client_writer.transport.abort()
            upstream_writer.transport.abort()
            return
        self._writers |= {client_writer, upstream_writer}
        exchange = _Exchange()

        def from_client() -> None:
            if exchange.server_spoke_last:
                self.round_trips += 1
            exchange.server_spoke_last = False

        def from_server() -> None:
            exchange.server_spoke_last = True

        await asyncio.gather(
            _delayed_pipe(client_reader, upstream_writer, lambda: self.to_target_seconds, from_client),
            _delayed_pipe(upstream_reader, client_writer, lambda: self.from_target_seconds, from_server),
            return_exceptions=True,
        )
        self._writers -= {client_writer, upstream_writer}


async def _delayed_pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: Callable[[], float],
    arrived: Callable[[], None],
) -> None:
    """Forward ``reader`` to ``writer``, each chunk ``delay()`` seconds after it arrived (``arrived()`` is
    told first), in order."""
    loop = asyncio.get_running_loop()
    # (due time, chunk); None once the reader reached its end.
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

    async def send() -> None:
        while (item := await queue.get()) is not None:
            due, data = item
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while data := await reader.read(65536):
            arrived()
            queue.put_nowait((loop.time() + delay(), data))
        queue.put_nowait(None)
        await sender
    finally:
        sender.cancel()
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.asynccontextmanager
async def proxied(database_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A proxy to the server of ``database_url``, and the same URL through the proxy."""
    parts = urlsplit(database_url)
    assert parts.hostname is not None and parts.port is not None
    proxy = TcpProxy(parts.hostname, parts.port)
    await proxy.start()
    credentials = parts.netloc.rsplit("@", 1)[0]
    try:
        yield proxy, urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{proxy.port}"))
    finally:
        await proxy.stop()
