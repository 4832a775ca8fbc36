"""Helpers shared by tests: settings on free loopback ports, a ServiceHost running in the test's loop, and
the one way to wait for a condition."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path

from cerebro.embedded import EmbeddedPostgres
from cerebro.runtime.config import ServiceSettings, load_service_settings
from cerebro.runtime.server import Lifespan, ServiceHost


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback_settings(service: str, data_dir: Path, extra: Mapping[str, str] | None = None) -> ServiceSettings:
    """Settings for ``service`` on 127.0.0.1 with OS-chosen gRPC and metrics ports."""
    key = service.upper().replace("-", "_")
    environ = {
        "CEREBRO_BIND_HOST": "127.0.0.1",
        f"CEREBRO_{key}_PORT": "0",
        f"CEREBRO_{key}_METRICS_PORT": "0",
        "CEREBRO_DATA_DIR": str(data_dir),
        "CEREBRO_SHUTDOWN_GRACE_SECONDS": "5",
        # Tests that exercise registration turn it on with their own consensus target.
        "CEREBRO_REGISTER": "false",
        **(extra or {}),
    }
    return load_service_settings(service, environ)


@contextlib.asynccontextmanager
async def running_host(settings: ServiceSettings, lifespan: Lifespan) -> AsyncIterator[ServiceHost]:
    """Serve until the block ends, then shut down gracefully."""
    host = ServiceHost(settings, handle_signals=False)
    task = asyncio.create_task(host.serve(lifespan))
    started = asyncio.create_task(host.wait_started())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        started.cancel()
        task.result()  # re-raise the start-up failure
    try:
        yield host
    finally:
        host.request_stop()
        await task


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, timeout: float = 20.0, interval: float = 0.05
) -> None:
    """Wait until ``check()`` (a plain or an async function) is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if await outcome if inspect.isawaitable(outcome) else outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@contextlib.contextmanager
def private_postgres(prefix: str) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of the caller's own: what is cluster-wide there, roles above all, is its alone."""
    # mkdtemp rather than tmp_path: when tests run as root the server runs as another account that
    # must reach its data directory (see tests/conftest.py).
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with EmbeddedPostgres(directory) as postgres:
            yield postgres
    finally:
        shutil.rmtree(directory, ignore_errors=True)
