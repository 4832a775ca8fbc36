"""What every part of the memory API works with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from google.protobuf.message import Message

from cerebro.runtime.pagination import Key, KeyPart, Page, paginate
from services.memory.db import Connection, MemoryDatabase, reading_namespace
from services.memory.embedder_client import EmbedderClient
from services.memory.store.working_memory_cache import WorkingMemoryCache

ListRows = Callable[[Connection, Key | None, int], Awaitable[list[asyncpg.Record]]]
"""``rows(connection, after, limit)``: up to ``limit`` rows after the sort key ``after``, in order."""


@dataclass(frozen=True)
class MemoryResources:
    database: MemoryDatabase
    embedder: EmbedderClient
    # None when no Redis is configured: working memory is then served from PostgreSQL alone.
    cache: WorkingMemoryCache | None


class ApiBase:
    """Base of the API mixins that :class:`services.memory.api.servicer.MemoryServicer` combines."""

    def __init__(self, resources: MemoryResources) -> None:
        self.resources = resources

    async def namespace_page(
        self,
        request: Message,
        namespace: str,
        page_size: int,
        kinds: tuple[KeyPart, ...],
        rows: ListRows,
        key: Callable[[asyncpg.Record], Key],
    ) -> Page[asyncpg.Record]:
        """The page of ``rows`` that ``request``'s page token asks for, read in one read-only
        transaction of ``namespace``; ``key(row)`` is a row's sort key, of the ``kinds`` given."""

        async def fetch(after: Key | None, limit: int) -> list[asyncpg.Record]:
            async with reading_namespace(self.resources.database, namespace) as connection:
                return await rows(connection, after, limit)

        return await paginate(request, page_size=page_size, kinds=kinds, fetch=fetch, key=key)
