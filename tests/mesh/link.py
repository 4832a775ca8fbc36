"""A region's link to the core: application-level TCP forwarders with latency, that can be cut and healed.

Kernel netem is not available, so a partition is made where the traffic passes: every connection a
region opens to the core (PostgreSQL, Redis, consensus, embedder) goes through one proxy listening on
the region's root-side veth address. Cutting the link breaks every open connection and refuses new
ones; healing listens again on the same ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from tests.tcp_proxy import TcpProxy

T = TypeVar("T")


class LatencyProxy(TcpProxy):
    """A TcpProxy listening on a chosen address, delaying every chunk it forwards by ``latency_seconds``."""

    def __init__(self, listen_host: str, listen_port: int, target_host: str, target_port: int) -> None:
        super().__init__(target_host, target_port)
        self.listen_host = listen_host
        self.port = listen_port
        self.latency_seconds = 0.0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.listen_host, self.port, reuse_address=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:  # type: ignore[override]
        try:
            while data := await reader.read(65536):
                if self.latency_seconds:
                    await asyncio.sleep(self.latency_seconds)
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()


class RegionLink:
    """All forwarders of one region, on ``link_address``, to core services at ``core_host``."""

    def __init__(self, link_address: str, core_host: str, ports: dict[str, int]) -> None:
        """``ports`` maps a core service name to its port; each forwarder listens on the same port number."""
        self.address = link_address
        self.ports = dict(ports)
        self._proxies = {name: LatencyProxy(link_address, port, core_host, port) for name, port in ports.items()}
        self.is_cut = False

    def target(self, service: str) -> str:
        """``host:port`` at which the region reaches ``service`` of the core."""
        return f"{self.address}:{self.ports[service]}"

    def set_latency(self, seconds: float) -> None:
        for proxy in self._proxies.values():
            proxy.latency_seconds = seconds

    async def start(self) -> None:
        for proxy in self._proxies.values():
            await proxy.start()
        self.is_cut = False

    async def cut(self) -> None:
        for proxy in self._proxies.values():
            await proxy.cut()
        self.is_cut = True

    async def heal(self) -> None:
        await self.start()

    async def stop(self) -> None:
        await self.cut()


class LinkLoop:
    """An event loop on its own thread for every link, so forwarding never waits on the test's own code."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mesh-links", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coroutine`` on the links' loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
