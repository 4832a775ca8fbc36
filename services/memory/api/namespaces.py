"""Namespaces: the agent instances that own memories."""

from __future__ import annotations

import asyncpg

from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.memory.v1 import namespaces_pb2
from cerebro.runtime.errors import already_exists, not_found
from cerebro.runtime.interceptors import Context
from cerebro.runtime.pagination import paginate
from cerebro.runtime.violations import Violations
from services.memory.api.base import ApiBase
from services.memory.convert import timestamp
from services.memory.store import namespaces as store


def namespace_message(row: asyncpg.Record) -> namespaces_pb2.Namespace:
    return namespaces_pb2.Namespace(
        name=row["name"], display_name=row["display_name"], create_time=timestamp(row["created_at"])
    )


class NamespacesApi(ApiBase):
    async def CreateNamespace(self, request: pb.CreateNamespaceRequest, context: Context) -> pb.CreateNamespaceResponse:
        violations = Violations()
        name = violations.namespace("namespace.name", request.namespace.name)
        display_name = violations.text(
            "namespace.display_name", request.namespace.display_name, required=False, max_chars=255
        )
        violations.raise_if_any()
        row = await store.insert_namespace(self.resources.database.primary, name, display_name)
        if row is None:
            raise already_exists("namespace", name)
        return pb.CreateNamespaceResponse(namespace=namespace_message(row))

    async def GetNamespace(self, request: pb.GetNamespaceRequest, context: Context) -> pb.GetNamespaceResponse:
        violations = Violations()
        name = violations.namespace("name", request.name)
        violations.raise_if_any()
        row = await store.get_namespace(self.resources.database.primary, name)
        if row is None:
            raise not_found("namespace", name)
        return pb.GetNamespaceResponse(namespace=namespace_message(row))

    async def ListNamespaces(self, request: pb.ListNamespacesRequest, context: Context) -> pb.ListNamespacesResponse:
        violations = Violations()
        page_size = violations.page_size("page_size", request.page_size)
        violations.raise_if_any()
        page = await paginate(
            request,
            page_size=page_size,
            kinds=("text",),
            fetch=lambda after, limit: store.list_namespaces(self.resources.database.primary, after=after, limit=limit),
            key=lambda row: (row["name"],),
        )
        return pb.ListNamespacesResponse(
            namespaces=[namespace_message(row) for row in page.items], next_page_token=page.next_page_token
        )
