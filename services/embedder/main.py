"""The embedder process: `cerebro serve embedder`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.runtime.config import ServiceSettings
from cerebro.runtime.process import run_process
from cerebro.runtime.roles import EMBEDDER_CALLERS
from cerebro.runtime.server import ServiceHost
from services.embedder.batching import MicroBatcher
from services.embedder.model import Encoder
from services.embedder.servicer import EmbedderServicer
from services.embedder.settings import EmbedderSettings

SERVICE = embedder_pb2.DESCRIPTOR.services_by_name["EmbedderService"]


@asynccontextmanager
async def lifespan(host: ServiceHost, settings: EmbedderSettings) -> AsyncIterator[None]:
    # Loaded before the server starts, so SERVING means the model is ready.
    cache_dir = settings.cache_dir or host.settings.data_dir / "embedder"
    encoder = await asyncio.to_thread(Encoder, settings.backend, cache_dir=cache_dir)
    batcher = MicroBatcher(
        encoder,
        max_batch_tokens=settings.max_batch_tokens,
        max_wait_seconds=settings.max_wait_seconds,
        adaptive_wait_seconds=settings.adaptive_wait_seconds,
        max_queued_tokens=settings.max_queued_tokens,
    )
    servicer = EmbedderServicer(encoder, batcher, settings)
    host.add_service(
        SERVICE, embedder_pb2_grpc.add_EmbedderServiceServicer_to_server, servicer, callers=EMBEDDER_CALLERS
    )
    try:
        yield
    finally:
        await batcher.close()


async def serve(settings: ServiceSettings) -> None:
    embedder_settings = EmbedderSettings.from_env()
    host = ServiceHost(settings)
    await host.serve(lambda h: lifespan(h, embedder_settings))


def main() -> None:
    run_process("embedder", serve)
