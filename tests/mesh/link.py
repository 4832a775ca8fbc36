"""A region's link to the core: application-level TCP forwarders with latency, that can be cut and healed.

Kernel netem is not available, so distance and partitions are made where the traffic passes: every
connection a region opens to the core (PostgreSQL, Redis, consensus, embedder) goes through one proxy
listening on the region's root-side veth address. Cutting the link breaks every open connection and
refuses new ones; healing listens again on the same ports.

Latency is one-way and per direction (towards the core, back from it), so a link can be asymmetric
(tests/tcp_proxy.py, the proxy every link is made of, says how it is applied).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from tests.tcp_proxy import TcpProxy

T = TypeVar("T")


class RegionLink:
    """All forwarders of one region, on ``link_address``, to core services at ``core_host``."""

    def __init__(self, link_address: str, core_host: str, ports: dict[str, int]) -> None:
        """``ports`` maps a core service name to its port; each forwarder listens on the same port number."""
        self.address = link_address
        self.ports = dict(ports)
        self._proxies = {
            name: TcpProxy(core_host, port, listen_host=link_address, listen_port=port) for name, port in ports.items()
        }
        self.is_cut = False

    def target(self, service: str) -> str:
        """``host:port`` at which the region reaches ``service`` of the core."""
        return f"{self.address}:{self.ports[service]}"

    def set_latency(self, to_core_seconds: float, from_core_seconds: float | None = None) -> None:
        """One-way latency towards the core and back (the same both ways unless ``from_core_seconds``)."""
        for proxy in self._proxies.values():
            proxy.to_target_seconds = to_core_seconds
            proxy.from_target_seconds = to_core_seconds if from_core_seconds is None else from_core_seconds

    @property
    def round_trip_seconds(self) -> float:
        proxy = next(iter(self._proxies.values()))
        return proxy.to_target_seconds + proxy.from_target_seconds

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
