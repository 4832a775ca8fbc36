"""The consensus process (`cerebro serve consensus`): ConsensusService on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.runtime.config import ServiceSettings
from cerebro.runtime.database import Schema, open_pool, require_database_url
from cerebro.runtime.process import run_process
from cerebro.runtime.replica_reads import keep_measuring
from cerebro.runtime.roles import CONSENSUS_CALLERS
from cerebro.runtime.server import ServiceHost
from services.consensus.api.base import ConsensusResources
from services.consensus.events import INSTANCES_CHANNEL, PROPOSALS_CHANNEL, Change, EventHub
from services.consensus.read_path import consensus_database, read_tokens_interceptor
from services.consensus.servicer import ConsensusServicer
from services.consensus.settings import ConsensusSettings
from services.consensus.store.proposals import ProposalRecord, Proposals
from services.consensus.store.registry import Registry
from services.consensus.sweeper import sweep_forever

SERVICE = consensus_pb2.DESCRIPTOR.services_by_name["ConsensusService"]
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SCHEMA = Schema("consensus", MIGRATIONS_DIR)


@asynccontextmanager
async def lifespan(host: ServiceHost, settings: ConsensusSettings) -> AsyncIterator[None]:
    # Without migrations at start, the owner has applied them (`cerebro migrate`) and this process logs
    # in as cerebro_consensus, which could not.
    pool = await host.add_postgres(SCHEMA if settings.apply_migrations else None, max_size=settings.pool_size)
    # Instance keys as this replica last read them, for writes in one round trip (migration 0004).
    keys: dict[uuid.UUID, bytes] = {}
    db = consensus_database(pool, settings.replica_wait_seconds)
    if settings.read_database_url is not None:
        # No connection at start (min_size=0): a replica that is down must not keep the service from serving.
        db.replica = await open_pool(settings.read_database_url, min_size=0, max_size=settings.pool_size)
        host.add_background_task(lambda: keep_measuring(db))
    registry = Registry(db, settings, keys)
    proposals = Proposals(db, keys)

    # A change is heard from the primary: loaded there, where it has surely happened.
    async def load_instance(change: Change) -> asyncpg.Record:
        return await registry.get(change.subject_id, latest=True)

    async def load_proposal(change: Change) -> ProposalRecord:
        return await proposals.get(change.subject_id, full=True, latest=True)

    hub = EventHub(
        require_database_url(host.settings.database_url, host.settings.service),
        {INSTANCES_CHANNEL: load_instance, PROPOSALS_CHANNEL: load_proposal},
        queue_size=settings.watch_queue_size,
        max_watchers=settings.max_watchers,
    )

    async def sweep() -> None:
        await sweep_forever(registry, proposals, settings.sweep_interval_seconds)

    resources = ConsensusResources(registry, proposals, hub, settings, roles_verified=host.requires_client_certificates)
    host.add_service(
        SERVICE,
        consensus_pb2_grpc.add_ConsensusServiceServicer_to_server,
        ConsensusServicer(resources),
        callers=CONSENSUS_CALLERS,
    )
    host.add_interceptor(read_tokens_interceptor())
    host.add_background_task(hub.run)
    host.add_background_task(sweep)
    try:
        yield
    finally:
        if db.replica is not None:
            await db.replica.close()


async def serve(settings: ServiceSettings) -> None:
    consensus_settings = ConsensusSettings.from_env()
    host = ServiceHost(settings)
    await host.serve(lambda h: lifespan(h, consensus_settings))


def main() -> None:
    run_process("consensus", serve)
