"""Running the memory service and its workers in-process for a test, reading rich errors, checking text statistics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cerebro.memory.v1 import memory_service_pb2_grpc
from cerebro.runtime.channels import open_channel
from cerebro.runtime.config import TlsSettings, load_service_settings
from cerebro.runtime.roles import Role
from cerebro.runtime.server import ServiceHost
from services.memory.embeddings_worker import run_embeddings_worker
from services.memory.main import lifespan
from services.memory.reconciliation_worker import run_reconciliation_worker
from services.memory.settings import EmbeddingsWorkerSettings, MemorySettings, ReconciliationWorkerSettings


@dataclass
class MemoryServer:
    host: ServiceHost
    stub: memory_service_pb2_grpc.MemoryServiceStub
    health: health_pb2_grpc.HealthStub

    async def health_status(self) -> int:
        response = await self.health.Check(health_pb2.HealthCheckRequest(service="cerebro.memory.v1.MemoryService"))
        return response.status


@asynccontextmanager
async def running_memory_service(
    database_url: str,
    redis_url: str | None,
    embedder_target: str,
    extra: Mapping[str, str] | None = None,
    *,
    client_tls: TlsSettings | None = None,
) -> AsyncIterator[MemoryServer]:
    """MemoryService on a loopback port, connected to PostgreSQL as cerebro_memory (row-level security applies).

    The test's stub presents ``client_tls`` (an operator's certificate when the service runs with mutual TLS).
    """
    environ = {
        "CEREBRO_BIND_HOST": "127.0.0.1",
        "CEREBRO_MEMORY_PORT": "0",
        "CEREBRO_MEMORY_METRICS_PORT": "0",
        "CEREBRO_DATABASE_URL": database_url,
        "CEREBRO_EMBEDDER_TARGET": embedder_target,
        "CEREBRO_MEMORY_DATABASE_ROLE": "cerebro_memory",
        "CEREBRO_MEMORY_EMBEDDER_TIMEOUT_SECONDS": "2",
        **({"CEREBRO_REDIS_URL": redis_url} if redis_url else {}),
        **(extra or {}),
    }
    host = ServiceHost(load_service_settings("memory", environ=environ))
    memory_settings = MemorySettings.from_env(environ)
    serving = asyncio.create_task(host.serve(lambda h: lifespan(h, memory_settings, {})))
    started = asyncio.create_task(host.wait_started())
    await asyncio.wait([serving, started], return_when=asyncio.FIRST_COMPLETED)
    if serving.done():
        started.cancel()
        serving.result()
    channel = open_channel(f"127.0.0.1:{host.bound_port}", client_tls, server_role=Role.MEMORY, max_attempts=1)
    try:
        yield MemoryServer(
            host, memory_service_pb2_grpc.MemoryServiceStub(channel), health_pb2_grpc.HealthStub(channel)
        )
    finally:
        await channel.close()
        host.request_stop()
        await serving


WORKER_TEST_SETTINGS = {
    "CEREBRO_EMBEDDINGS_WORKER_DATABASE_ROLE": "cerebro_memory_worker",
    "CEREBRO_EMBEDDINGS_WORKER_POLL_SECONDS": "0.2",
    "CEREBRO_EMBEDDINGS_WORKER_BACKOFF_SECONDS": "0.05",
    "CEREBRO_EMBEDDINGS_WORKER_BACKOFF_MAX_SECONDS": "0.2",
    "CEREBRO_EMBEDDINGS_WORKER_LEASE_SECONDS": "30",
    "CEREBRO_EMBEDDINGS_WORKER_EMBEDDER_TIMEOUT_SECONDS": "2",
}


def worker_environ(database_url: str, embedder_target: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        "CEREBRO_DATABASE_URL": database_url,
        "CEREBRO_EMBEDDER_TARGET": embedder_target,
        "CEREBRO_EMBEDDINGS_WORKER_METRICS_PORT": "0",
        **WORKER_TEST_SETTINGS,
        **(extra or {}),
    }


@asynccontextmanager
async def running_embeddings_worker(
    database_url: str, embedder_target: str, extra: Mapping[str, str] | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    """The embeddings worker's loops in this process, as cerebro_memory_worker, until the block ends."""
    environ = worker_environ(database_url, embedder_target, extra)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_embeddings_worker(
            load_service_settings("embeddings-worker", environ=environ),
            EmbeddingsWorkerSettings.from_env(environ),
            stop,
        )
    )
    try:
        yield task
    finally:
        stop.set()
        await task


@asynccontextmanager
async def running_reconciliation_worker(
    database_url: str, redis_url: str, interval_seconds: float = 0.2
) -> AsyncIterator[asyncio.Task[None]]:
    environ = {
        "CEREBRO_DATABASE_URL": database_url,
        "CEREBRO_REDIS_URL": redis_url,
        "CEREBRO_RECONCILIATION_WORKER_DATABASE_ROLE": "cerebro_memory_worker",
        "CEREBRO_RECONCILIATION_WORKER_INTERVAL_SECONDS": str(interval_seconds),
    }
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_reconciliation_worker(
            load_service_settings("reconciliation-worker", environ=environ),
            ReconciliationWorkerSettings.from_env(environ),
            stop,
        )
    )
    try:
        yield task
    finally:
        stop.set()
        await task


def status_details(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    raise AssertionError(f"no rich status details in {error!r}")


def field_violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """The (field, description) pairs of the BadRequest detail of an INVALID_ARGUMENT error."""
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    for detail in status_details(error).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            return [(violation.field, violation.description) for violation in bad_request.field_violations]
    raise AssertionError("no BadRequest detail")


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields named by the BadRequest detail of an INVALID_ARGUMENT error."""
    return [field for field, _ in field_violations(error)]


# The text statistics recomputed from the rows, and as kept (folded figures plus unfolded changes):
# every (corpus, namespace, lexeme) whose figures differ. The empty lexeme stands for the collection
# (its row count and the sum of the rows' lengths, a row's length being its number of lexemes).
_STATISTICS_DRIFT = """
WITH truth AS (
    SELECT 'episodes' AS corpus, e.namespace, t.lexeme, count(*) AS documents, NULL::bigint AS total_length
    FROM memory.episodes e CROSS JOIN LATERAL unnest(tsvector_to_array(e.search_vector)) AS t (lexeme)
    GROUP BY e.namespace, t.lexeme
    UNION ALL
    SELECT 'episodes', namespace, '', count(*), sum(length(search_vector)) FROM memory.episodes GROUP BY namespace
    UNION ALL
    SELECT 'semantic_memories', s.namespace, t.lexeme, count(*), NULL
    FROM memory.semantic_memories s CROSS JOIN LATERAL unnest(tsvector_to_array(s.search_vector)) AS t (lexeme)
    GROUP BY s.namespace, t.lexeme
    UNION ALL
    SELECT 'semantic_memories', namespace, '', count(*), sum(length(search_vector)) FROM memory.semantic_memories
    GROUP BY namespace
), kept AS (
    SELECT corpus, namespace, lexeme, sum(documents) AS documents, sum(total_length) AS total_length FROM (
        SELECT corpus, namespace, lexeme, documents, NULL::bigint AS total_length FROM memory.text_term_statistics
        UNION ALL
        SELECT corpus, namespace, '', documents, total_length FROM memory.text_collection_statistics
        UNION ALL
        SELECT c.corpus, c.namespace, u.lexeme, u.documents, NULL
        FROM memory.text_statistics_changes c
        CROSS JOIN LATERAL unnest(c.lexemes, c.lexeme_documents) AS u (lexeme, documents)
        UNION ALL
        SELECT corpus, namespace, '', documents, total_length FROM memory.text_statistics_changes
    ) AS parts
    GROUP BY corpus, namespace, lexeme
    HAVING sum(documents) <> 0 OR sum(total_length) <> 0
)
SELECT coalesce(t.corpus, k.corpus) AS corpus, coalesce(t.namespace, k.namespace) AS namespace,
       coalesce(t.lexeme, k.lexeme) AS lexeme, t.documents AS true_documents, k.documents AS kept_documents,
       t.total_length AS true_total_length, k.total_length AS kept_total_length
FROM truth t FULL OUTER JOIN kept k USING (corpus, namespace, lexeme)
WHERE t.documents IS DISTINCT FROM k.documents OR t.total_length IS DISTINCT FROM k.total_length
ORDER BY 1, 2, 3
"""


async def statistics_drift(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """Where the kept text statistics differ from the rows (a superuser connection): [] when exact."""
    return await connection.fetch(_STATISTICS_DRIFT)


async def statistics_changes(connection: asyncpg.Connection) -> int:
    """Change rows not folded yet."""
    return await connection.fetchval("SELECT count(*) FROM memory.text_statistics_changes")
