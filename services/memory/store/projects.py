"""Projects (`memory.projects`): the organisational units episodes may belong to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from cerebro.runtime.errors import ServiceError, already_exists, not_found
from cerebro.runtime.pagination import Key
from services.memory.db import Connection, MemoryDatabase, namespace_errors, note_written
from services.memory.store.idempotency import created_or_replayed

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


# The fields an update may change, in the order of memory.update_project's parameters.
UPDATABLE_FIELDS = ("display_name", "dna", "description", "status", "metadata")


@dataclass(frozen=True)
class ProjectChanges:
    """New values by field (of UPDATABLE_FIELDS): only the fields named by the update mask are present."""

    values: dict[str, Any]


def _taken(error: asyncpg.UniqueViolationError, namespace: str) -> ServiceError:
    what = "dna" if "dna" in (error.constraint_name or "") else "name"
    return already_exists("project", namespace, f"namespace {namespace!r} already has a project with this {what}")


async def create_project(db: MemoryDatabase, namespace: str, new: NewProject) -> asyncpg.Record:
    """Insert in one statement on the primary (memory.create_project); an idempotent retry gets the earlier row."""
    try:
        with namespace_errors(namespace):
            row = await db.primary.fetchrow(
                "SELECT * FROM memory.create_project($1, $2, $3, $4, $5, $6, $7, $8)",
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
    created = created_or_replayed(row, new.request_id, new.request_digest)
    note_written(created)
    return created


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
    db: MemoryDatabase, namespace: str, project_id: uuid.UUID, changes: ProjectChanges
) -> asyncpg.Record:
    """Change the fields in ``changes`` in one statement on the primary (memory.update_project)."""
    values = changes.values
    try:
        with namespace_errors(namespace):
            row = await db.primary.fetchrow(
                "SELECT * FROM memory.update_project($1, $2, $3, $4, $5, $6, $7, $8)",
                namespace,
                project_id,
                [field in values for field in UPDATABLE_FIELDS],
                *(values.get(field) for field in UPDATABLE_FIELDS),
            )
    except asyncpg.UniqueViolationError as error:
        raise _taken(error, namespace) from None
    if row is None:
        raise not_found("project", str(project_id))
    note_written(row)
    return row


async def delete_project(db: MemoryDatabase, namespace: str, project_id: uuid.UUID) -> None:
    """Delete in one statement on the primary (memory.delete_project)."""
    with namespace_errors(namespace):
        row = await db.primary.fetchrow("SELECT * FROM memory.delete_project($1, $2)", namespace, project_id)
    assert row is not None  # the function returns one row
    if not row["deleted"]:
        raise not_found("project", str(project_id))
    note_written(row)
