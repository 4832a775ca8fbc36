"""Projects (`memory.projects`): the organisational units episodes may belong to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from cerebro.runtime.errors import ServiceError, already_exists, not_found
from cerebro.runtime.pagination import Key
from services.memory.db import Connection
from services.memory.store.filters import Conditions
from services.memory.store.idempotency import replayed_row

COLUMNS = (
    "p.project_id, p.namespace, p.display_name, p.dna, p.description, p.status, p.metadata, p.created_at, p.updated_at"
)


@dataclass(frozen=True)
class NewProject:
    display_name: str
    dna: str | None
    description: str
    status: str
    metadata: dict[str, Any]
    request_id: uuid.UUID | None
    request_digest: bytes | None


@dataclass(frozen=True)
class ProjectChanges:
    """Columns to set: only the fields named by the update mask are present (fixed names, never input)."""

    values: dict[str, Any]


def _taken(error: asyncpg.UniqueViolationError, namespace: str) -> ServiceError:
    what = "dna" if "dna" in (error.constraint_name or "") else "name"
    return already_exists("project", namespace, f"namespace {namespace!r} already has a project with this {what}")


async def insert_project(connection: Connection, namespace: str, new: NewProject) -> asyncpg.Record:
    try:
        row = await connection.fetchrow(
            f"""INSERT INTO memory.projects AS p
                    (namespace, display_name, dna, description, status, metadata, request_id, request_digest)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (namespace, request_id) DO NOTHING
                RETURNING {COLUMNS}""",
            namespace,
            new.display_name,
            new.dna,
            new.description,
            new.status,
            new.metadata,
            new.request_id,
            new.request_digest,
        )
    except asyncpg.UniqueViolationError as error:
        raise _taken(error, namespace) from None
    if row is None:
        assert new.request_id is not None and new.request_digest is not None
        return await replayed_row(
            connection,
            table="projects p",
            columns=COLUMNS,
            namespace=namespace,
            request_id=new.request_id,
            digest=new.request_digest,
            field="request_id",
        )
    return row


async def get_project(connection: Connection, namespace: str, project_id: uuid.UUID) -> asyncpg.Record:
    row = await connection.fetchrow(
        f"SELECT {COLUMNS} FROM memory.projects p WHERE p.namespace = $1 AND p.project_id = $2", namespace, project_id
    )
    if row is None:
        raise not_found("project", str(project_id))
    return row


async def list_projects(
    connection: Connection,
    namespace: str,
    status: str | None,
    *,
    after: Key | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first by (created_at, project_id), starting after the key ``after``."""
    return await connection.fetch(
        f"""SELECT {COLUMNS} FROM memory.projects p
            WHERE p.namespace = $1 AND ($2::text IS NULL OR p.status = $2)
              AND ($3::timestamptz IS NULL OR (p.created_at, p.project_id) < ($3, $4::uuid))
            ORDER BY p.created_at DESC, p.project_id DESC LIMIT $5""",
        namespace,
        status,
        None if after is None else after[0],
        None if after is None else after[1],
        limit,
    )


async def update_project(
    connection: Connection, namespace: str, project_id: uuid.UUID, changes: ProjectChanges
) -> asyncpg.Record:
    conditions = Conditions([namespace, project_id])
    assignments = ["updated_at = now()"] + [
        f"{column} = {conditions.param(value)}" for column, value in changes.values.items()
    ]
    try:
        row = await connection.fetchrow(
            f"""UPDATE memory.projects AS p SET {", ".join(assignments)}
                WHERE p.namespace = $1 AND p.project_id = $2 RETURNING {COLUMNS}""",
            *conditions.args,
        )
    except asyncpg.UniqueViolationError as error:
        raise _taken(error, namespace) from None
    if row is None:
        raise not_found("project", str(project_id))
    return row


async def delete_project(connection: Connection, namespace: str, project_id: uuid.UUID) -> None:
    deleted = await connection.fetchval(
        "DELETE FROM memory.projects WHERE namespace = $1 AND project_id = $2 RETURNING project_id",
        namespace,
        project_id,
    )
    if deleted is None:
        raise not_found("project", str(project_id))
