"""What every part of the memory API works with."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.memory.embedder_client import EmbedderClient
from services.memory.store.working_memory_cache import WorkingMemoryCache


@dataclass(frozen=True)
class MemoryResources:
    pool: asyncpg.Pool
    embedder: EmbedderClient
    # None when no Redis is configured: working memory is then served from PostgreSQL alone.
    cache: WorkingMemoryCache | None


class ApiBase:
    """Base of the API mixins that :class:`services.memory.servicer.MemoryServicer` combines."""

    def __init__(self, resources: MemoryResources) -> None:
        self.resources = resources
