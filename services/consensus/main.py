"""The consensus process: `cerebro serve consensus`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.runtime.config import ConfigError, ServiceSettings
from cerebro.runtime.database import check_connection, open_pool
from cerebro.runtime.migrations import apply_migrations, load_migrations
from cerebro.runtime.process import run_process
from cerebro.runtime.roles import CONSENSUS_CALLERS
from cerebro.runtime.server import ServiceHost
from services.consensus.api.base import ConsensusResources
from services.consensus.events import INSTANCES_CHANNEL, PROPOSALS_CHANNEL, Change, EventHub
from services.consensus.servicer import ConsensusServicer
from services.consensus.settings import ConsensusSettings
from services.consensus.store.proposals import ProposalRecord, Proposals
from services.consensus.store.registry import Registry
from services.consensus.sweeper import sweep_forever

log = logging.getLogger(__name__)

SERVICE = consensus_pb2.DESCRIPTOR.services_by_name["ConsensusService"]
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
STARTUP_RETRY_MAX_SECONDS = 5.0


async def connect_and_migrate(dsn: str, pool_size: int, *, migrate: bool) -> asyncpg.Pool:
    """Apply the migrations (when ``migrate``) and open the pool, waiting for PostgreSQL as long as it
    is unreachable."""
    migrations = load_migrations(MIGRATIONS_DIR)
    delay = 0.2
    while True:
        try:
            if migrate:
                await apply_migrations(dsn, "consensus", migrations)
            return await open_pool(dsn, min_size=1, max_size=pool_size)
        except (TimeoutError, OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError) as exc:
            log.warning("PostgreSQL is unreachable (%s); retrying in %.1f s", exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, STARTUP_RETRY_MAX_SECONDS)


@asynccontextmanager
async def lifespan(host: ServiceHost, settings: ConsensusSettings) -> AsyncIterator[None]:
    dsn = host.settings.database_url
    if dsn is None:
        raise ConfigError("CEREBRO_DATABASE_URL (or CEREBRO_DATABASE_URL_FILE) is required by the consensus service")
    pool = await connect_and_migrate(dsn, settings.pool_size, migrate=settings.apply_migrations)
    registry = Registry(pool, settings)
    proposals = Proposals(pool)

    async def load_instance(change: Change) -> asyncpg.Record:
        return await registry.get(change.subject_id)

    async def load_proposal(change: Change) -> ProposalRecord:
        return await proposals.get(change.subject_id, full=True)

    hub = EventHub(
        dsn,
        {INSTANCES_CHANNEL: load_instance, PROPOSALS_CHANNEL: load_proposal},
        queue_size=settings.watch_queue_size,
        max_watchers=settings.max_watchers,
    )

    async def probe_postgres() -> None:
        await check_connection(pool)

    async def sweep() -> None:
        await sweep_forever(registry, proposals, settings.sweep_interval_seconds)

    resources = ConsensusResources(registry, proposals, hub, settings, roles_verified=host.requires_client_certificates)
    host.add_service(
        SERVICE,
        consensus_pb2_grpc.add_ConsensusServiceServicer_to_server,
        ConsensusServicer(resources),
        callers=CONSENSUS_CALLERS,
    )
    host.add_dependency("postgres", probe_postgres)
    host.add_background_task(hub.run)
    host.add_background_task(sweep)
    try:
        yield
    finally:
        await pool.close()


async def serve(settings: ServiceSettings) -> None:
    consensus_settings = ConsensusSettings.from_env()
    host = ServiceHost(settings)
    await host.serve(lambda h: lifespan(h, consensus_settings))


def main() -> None:
    run_process("consensus", serve)
