"""Writes what time alone changes: instance leases running out and proposal deadlines passing."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from services.consensus.metrics import set_instances
from services.consensus.store.proposals import Proposals
from services.consensus.store.registry import Registry

log = logging.getLogger(__name__)


async def sweep_forever(registry: Registry, proposals: Proposals, interval_seconds: float) -> None:
    """Every ``interval_seconds``, announce lease transitions, expire proposals and refresh the instance gauge.

    Reads never depend on it (they derive status and expiry from the clock); it exists so that
    watchers hear about these changes. Every replica runs it; each change is written once.
    """
    while True:
        try:
            await registry.announce_status_changes()
            await proposals.expire_due()
            set_instances(await registry.count_by_status_and_region())
        except (TimeoutError, OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            log.debug("sweep skipped, PostgreSQL unavailable: %s", exc)
        except Exception:
            log.exception("sweep failed")
        await asyncio.sleep(interval_seconds)
