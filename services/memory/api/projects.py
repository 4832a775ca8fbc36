"""Projects: CRUD over the organisational units of a namespace."""

from __future__ import annotations

import asyncpg

from cerebro.memory.v1 import memory_service_pb2 as pb
from cerebro.memory.v1 import namespaces_pb2
from cerebro.runtime.errors import invalid_argument
from cerebro.runtime.interceptors import Context
from cerebro.runtime.violations import Violations
from services.memory.api.base import ApiBase
from services.memory.convert import request_digest, struct, timestamp
from services.memory.db import reading_namespace
from services.memory.store import projects as store

MAX_DESCRIPTION_CHARS = 65_536
MAX_METADATA_BYTES = 65_536
STATUSES = {
    namespaces_pb2.PROJECT_STATUS_ACTIVE: "active",
    namespaces_pb2.PROJECT_STATUS_COMPLETED: "completed",
    namespaces_pb2.PROJECT_STATUS_PAUSED: "paused",
    namespaces_pb2.PROJECT_STATUS_ARCHIVED: "archived",
}
STATUS_VALUES = {name: value for value, name in STATUSES.items()}


def project_message(row: asyncpg.Record) -> namespaces_pb2.Project:
    return namespaces_pb2.Project(
        project_id=str(row["project_id"]),
        namespace=row["namespace"],
        display_name=row["display_name"],
        dna=row["dna"] or "",
        description=row["description"],
        status=STATUS_VALUES[row["status"]],
        metadata=struct(row["metadata"], f"project {row['project_id']} metadata"),
        create_time=timestamp(row["created_at"]),
        update_time=timestamp(row["updated_at"]),
    )


class ProjectsApi(ApiBase):
    async def CreateProject(self, request: pb.CreateProjectRequest, context: Context) -> pb.CreateProjectResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        if not request.HasField("project"):
            raise invalid_argument([("project", "is required")])
        project = request.project
        request_id = violations.uuid("request_id", request.request_id, required=False)
        new = store.NewProject(
            display_name=violations.text("project.display_name", project.display_name, required=True, max_chars=255),
            dna=violations.text("project.dna", project.dna, required=False, max_chars=100) or None,
            description=violations.text(
                "project.description", project.description, required=False, max_chars=MAX_DESCRIPTION_CHARS
            ),
            status=violations.enum("project.status", project.status, STATUSES) or "active",
            metadata=violations.struct("project.metadata", project.metadata, max_bytes=MAX_METADATA_BYTES),
            request_id=request_id,
            request_digest=request_digest(request) if request_id is not None else None,
        )
        violations.raise_if_any()
        row = await store.create_project(self.resources.database, namespace, new)
        return pb.CreateProjectResponse(project=project_message(row))

    async def GetProject(self, request: pb.GetProjectRequest, context: Context) -> pb.GetProjectResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        project_id = violations.uuid("project_id", request.project_id)
        violations.raise_if_any()
        assert project_id is not None
        async with reading_namespace(self.resources.database, namespace) as connection:
            row = await store.get_project(connection, namespace, project_id)
        return pb.GetProjectResponse(project=project_message(row))

    async def ListProjects(self, request: pb.ListProjectsRequest, context: Context) -> pb.ListProjectsResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        status = violations.enum("status", request.status, STATUSES)
        page_size = violations.page_size("page_size", request.page_size)
        violations.raise_if_any()
        page = await self.namespace_page(
            request,
            namespace,
            page_size,
            ("time", "uuid"),
            lambda connection, after, limit: store.list_projects(
                connection, namespace, status, after=after, limit=limit
            ),
            key=lambda row: (row["created_at"], row["project_id"]),
        )
        return pb.ListProjectsResponse(
            projects=[project_message(row) for row in page.items], next_page_token=page.next_page_token
        )

    async def UpdateProject(self, request: pb.UpdateProjectRequest, context: Context) -> pb.UpdateProjectResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        project = request.project
        project_id = violations.uuid("project.project_id", project.project_id)
        paths = violations.update_mask("update_mask", request.update_mask, store.UPDATABLE_FIELDS)
        values: dict[str, object] = {}
        if "display_name" in paths:
            values["display_name"] = violations.text(
                "project.display_name", project.display_name, required=True, max_chars=255
            )
        if "dna" in paths:
            values["dna"] = violations.text("project.dna", project.dna, required=False, max_chars=100) or None
        if "description" in paths:
            values["description"] = violations.text(
                "project.description", project.description, required=False, max_chars=MAX_DESCRIPTION_CHARS
            )
        if "status" in paths:
            values["status"] = violations.enum("project.status", project.status, STATUSES)
            if values["status"] is None:
                violations.add("project.status", "is required when named in the update mask")
        if "metadata" in paths:
            values["metadata"] = violations.struct("project.metadata", project.metadata, max_bytes=MAX_METADATA_BYTES)
        violations.raise_if_any()
        assert project_id is not None
        row = await store.update_project(self.resources.database, namespace, project_id, store.ProjectChanges(values))
        return pb.UpdateProjectResponse(project=project_message(row))

    async def DeleteProject(self, request: pb.DeleteProjectRequest, context: Context) -> pb.DeleteProjectResponse:
        violations = Violations()
        namespace = violations.namespace("namespace", request.namespace)
        project_id = violations.uuid("project_id", request.project_id)
        violations.raise_if_any()
        assert project_id is not None
        await store.delete_project(self.resources.database, namespace, project_id)
        return pb.DeleteProjectResponse()
