"""Entry points of Cerebro processes: settings, telemetry, signals, and a clean one-line failure."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from cerebro.runtime.config import ConfigError, ServiceSettings, load_service_settings
from cerebro.runtime.registration import keep_registered
from cerebro.runtime.telemetry import configure_process, start_metrics_server


def install_stop_handlers(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGTERM or SIGINT (the first one; the process then shuts down gracefully)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop)


def run_process(service: str, main: Callable[[ServiceSettings], Coroutine[Any, Any, None]]) -> None:
    """Load the settings of ``service``, set up logs and traces, and run ``main`` to completion.

    A configuration error stops the process with one line naming the variable and exit status 2.
    """
    # A native crash (SIGSEGV in an extension) then leaves the Python stacks of every thread in the log.
    faulthandler.enable()
    try:
        settings = load_service_settings(service)
        configure_process(settings)
        asyncio.run(main(settings))
    except ConfigError as error:
        print(f"cerebro {service}: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


async def run_worker(settings: ServiceSettings, work: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run a background worker (no gRPC server) with its metrics endpoint until SIGTERM/SIGINT.

    ``work(stop)`` must return soon after ``stop`` is set, having finished or released what it holds.
    """
    start_metrics_server(settings.metrics_port, settings.host)
    stop = asyncio.Event()
    install_stop_handlers(stop.set)
    registration = None
    if settings.register_with_consensus:
        registration = asyncio.create_task(keep_registered(settings, [settings.service], settings.endpoint(None)))
    try:
        await work(stop)
    finally:
        if registration is not None:
            registration.cancel()
            await asyncio.gather(registration, return_exceptions=True)
