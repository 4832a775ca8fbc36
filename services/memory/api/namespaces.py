"""Namespaces: the agent instances that own memories."""

from __future__ import annotations

import asyncpg
import grpc

from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.memory.v1 import namespaces_pb2
from cerebro.runtime.errors import already_exists, not_found
from services.memory.api.base import ApiBase
from services.memory.convert import timestamp
from services.memory.pagination import decode_page_token, encode_page_token
from services.memory.validation import Violations


def namespace_message(row: asyncpg.Record) -> namespaces_pb2.Namespace:
    return namespaces_pb2.Namespace(
        name=row["name"], display_name=row["display_name"], create_time=timestamp(row["created_at"])
    )


class NamespacesApi(ApiBase):
    async def CreateNamespace(
        self, request: pb.CreateNamespaceRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateNamespaceResponse:
        violations = Violations()
        name = violations.namespace("namespace.name", request.namespace.name)
        display_name = violations.text(
            "namespace.display_name", request.namespace.display_name, required=False, max_chars=255
        )
        violations.raise_if_any()
        row = await self.resources.pool.fetchrow(
            """INSERT INTO memory.namespaces (name, display_name) VALUES ($1, $2)
               ON CONFLICT (name) DO NOTHING RETURNING name, display_name, created_at""",
            name,
            display_name,
        )
        if row is None:
            raise already_exists("namespace", name)
        return pb.CreateNamespaceResponse(namespace=namespace_message(row))

    async def GetNamespace(
        self, request: pb.GetNamespaceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetNamespaceResponse:
        violations = Violations()
        name = violations.namespace("name", request.name)
        violations.raise_if_any()
        row = await self.resources.pool.fetchrow(
            "SELECT name, display_name, created_at FROM memory.namespaces WHERE name = $1", name
        )
        if row is None:
            raise not_found("namespace", name)
        return pb.GetNamespaceResponse(namespace=namespace_message(row))

    async def ListNamespaces(
        self, request: pb.ListNamespacesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListNamespacesResponse:
        violations = Violations()
        limit = violations.page_size("page_size", request.page_size)
        violations.raise_if_any()
        after = decode_page_token(request, ("text",))
        rows = await self.resources.pool.fetch(
            """SELECT name, display_name, created_at FROM memory.namespaces
               WHERE $1::text IS NULL OR name > $1 ORDER BY name LIMIT $2""",
            None if after is None else after[0],
            limit + 1,
        )
        token = encode_page_token(request, (rows[limit - 1]["name"],)) if len(rows) > limit else ""
        return pb.ListNamespacesResponse(
            namespaces=[namespace_message(row) for row in rows[:limit]], next_page_token=token
        )
