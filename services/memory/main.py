"""The memory service process (`cerebro serve memory`): MemoryService on PostgreSQL, Redis and the Embedder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cerebro.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from cerebro.runtime.config import ServiceSettings
from cerebro.runtime.database import dsn_with_role, open_pool, require_database_url
from cerebro.runtime.database_roles import enable_role_logins, role_passwords_from_env
from cerebro.runtime.process import run_process
from cerebro.runtime.read_tokens import read_tokens_interceptor
from cerebro.runtime.replica_reads import keep_measuring
from cerebro.runtime.roles import MEMORY_CALLERS
from cerebro.runtime.server import ServiceHost
from services.memory.api.base import MemoryResources
from services.memory.api.servicer import MemoryServicer
from services.memory.db import SCHEMA, MemoryDatabase
from services.memory.embedder_client import EmbedderClient
from services.memory.settings import MemorySettings
from services.memory.store.text_statistics import keep_folding
from services.memory.store.working_memory_cache import WorkingMemoryCache, open_redis

SERVICE = memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"]


@asynccontextmanager
async def lifespan(host: ServiceHost, settings: MemorySettings, role_passwords: dict[str, str]) -> AsyncIterator[None]:
    pool = await host.add_postgres(
        SCHEMA if settings.apply_migrations else None, role=settings.database_role, max_size=settings.pool_max_size
    )
    if settings.apply_migrations:
        await enable_role_logins(
            require_database_url(host.settings.database_url, host.settings.service), role_passwords
        )
    db = MemoryDatabase(primary=pool, replica_wait_seconds=settings.replica_wait_seconds)
    if settings.read_database_url is not None:
        # No connection at start (min_size=0): a replica that is down must not keep the service from serving.
        db.replica = await open_pool(
            dsn_with_role(settings.read_database_url, settings.database_role),
            min_size=0,
            max_size=settings.pool_max_size,
        )
        host.add_background_task(lambda: keep_measuring(db))
    cache = WorkingMemoryCache(open_redis(host.settings.redis_url)) if host.settings.redis_url else None
    embedder = EmbedderClient(
        host.settings.target("embedder"), host.settings.tls, timeout_seconds=settings.embedder_timeout_seconds
    )
    servicer = MemoryServicer(MemoryResources(database=db, embedder=embedder, cache=cache))
    host.add_interceptor(read_tokens_interceptor())
    host.add_service(
        SERVICE, memory_service_pb2_grpc.add_MemoryServiceServicer_to_server, servicer, callers=MEMORY_CALLERS
    )
    host.add_background_task(lambda: keep_folding(pool, settings.text_statistics_fold_seconds))
    try:
        yield
    finally:
        await embedder.close()
        if db.replica is not None:
            await db.replica.close()
        if cache is not None:
            await cache.close()


async def serve(settings: ServiceSettings) -> None:
    memory_settings = MemorySettings.from_env()
    role_passwords = role_passwords_from_env()
    host = ServiceHost(settings)
    await host.serve(lambda h: lifespan(h, memory_settings, role_passwords))


def main() -> None:
    run_process("memory", serve)


if __name__ == "__main__":
    main()
