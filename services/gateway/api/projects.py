"""Projects, which group the caller's episodes: create, get, list and archive."""

from __future__ import annotations

import uuid

import grpc
from google.protobuf import field_mask_pb2

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from cerebro.memory.v1 import namespaces_pb2
from services.gateway.api.base import ApiBase

ARCHIVE_MASK = field_mask_pb2.FieldMask(paths=["status"])
# ArchiveProject sends the project's id as `project.project_id`; its caller sent `project_id`.
ARCHIVE_FIELDS = {"project.project_id": "project_id"}


class ProjectsApi(ApiBase):
    async def CreateProject(
        self, request: pb.CreateProjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateProjectResponse:
        downstream = memory_pb.CreateProjectRequest(
            namespace=await self.own_namespace(),
            project=request.project,
            request_id=request.request_id or str(uuid.uuid4()),
        )
        response = await self.memory(
            lambda stub, timeout: stub.CreateProject(downstream, timeout=timeout), idempotent=True
        )
        return pb.CreateProjectResponse(project=response.project)

    async def GetProject(
        self, request: pb.GetProjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetProjectResponse:
        downstream = memory_pb.GetProjectRequest(
            namespace=await self.readable_namespace(request.namespace), project_id=request.project_id
        )
        response = await self.memory(
            lambda stub, timeout: stub.GetProject(downstream, timeout=timeout), idempotent=True
        )
        return pb.GetProjectResponse(project=response.project)

    async def ListProjects(
        self, request: pb.ListProjectsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListProjectsResponse:
        downstream = memory_pb.ListProjectsRequest(
            namespace=await self.readable_namespace(request.namespace),
            status=request.status,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        response = await self.memory(
            lambda stub, timeout: stub.ListProjects(downstream, timeout=timeout), idempotent=True
        )
        return pb.ListProjectsResponse(projects=response.projects, next_page_token=response.next_page_token)

    async def ArchiveProject(
        self, request: pb.ArchiveProjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.ArchiveProjectResponse:
        downstream = memory_pb.UpdateProjectRequest(
            namespace=await self.own_namespace(),
            project=namespaces_pb2.Project(
                project_id=request.project_id, status=namespaces_pb2.PROJECT_STATUS_ARCHIVED
            ),
            update_mask=ARCHIVE_MASK,
        )
        # Setting the same status again changes nothing: safe to retry.
        response = await self.memory(
            lambda stub, timeout: stub.UpdateProject(downstream, timeout=timeout),
            idempotent=True,
            fields=ARCHIVE_FIELDS,
        )
        return pb.ArchiveProjectResponse(project=response.project)
