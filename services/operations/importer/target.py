"""Writing converted rows into the memory schema: in batches, never overwriting, keyed on the original id.

A batch is one ``INSERT ... SELECT FROM jsonb_to_recordset(...) ON CONFLICT (<id>) DO NOTHING``: rows
whose id is already there are counted as present, and a second import writes nothing. If the database
rejects a batch (a constraint the conversion did not foresee), its rows are retried one by one, each in
its own savepoint, so only the offending row is skipped, with the database's reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.operations.importer.rows import BatchOutcome, Converted

# Errors that mean "this row does not fit", as opposed to a lost connection.
REJECTIONS = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)


@dataclass(frozen=True)
class TargetTable:
    """A memory table, its key and the columns an import writes (a fixed allow-list of identifiers)."""

    name: str
    id_column: str
    columns: tuple[tuple[str, str], ...]

    @property
    def id_type(self) -> str:
        return dict(self.columns)[self.id_column]

    def insert_sql(self) -> str:
        names = ", ".join(name for name, _ in self.columns)
        record = ", ".join(f"{name} {sql_type}" for name, sql_type in self.columns)
        return f"""INSERT INTO {self.name} ({names})
                   SELECT {names} FROM jsonb_to_recordset($1::jsonb) AS r({record})
                   ON CONFLICT ({self.id_column}) DO NOTHING
                   RETURNING {self.id_column}"""


PROJECTS = TargetTable(
    "memory.projects",
    "project_id",
    (
        ("project_id", "uuid"),
        ("namespace", "text"),
        ("display_name", "text"),
        ("dna", "text"),
        ("description", "text"),
        ("status", "text"),
        ("metadata", "jsonb"),
        ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ),
)
EPISODES = TargetTable(
    "memory.episodes",
    "episode_id",
    (
        ("episode_id", "uuid"),
        ("namespace", "text"),
        ("content", "text"),
        ("importance", "double precision"),
        ("tags", "text[]"),
        ("metadata", "jsonb"),
        ("project_id", "uuid"),
        ("occurred_at", "timestamptz"),
        ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ),
)
SEMANTIC_MEMORIES = TargetTable(
    "memory.semantic_memories",
    "semantic_memory_id",
    (
        ("semantic_memory_id", "uuid"),
        ("namespace", "text"),
        ("concept", "text"),
        ("definition", "text"),
        ("relationships", "jsonb"),
        ("confidence", "double precision"),
        ("source_episode_ids", "uuid[]"),
        ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ),
)
WORKING_MEMORY = TargetTable(
    "memory.working_memory",
    "item_id",
    (
        ("item_id", "uuid"),
        ("namespace", "text"),
        ("context_type", "text"),
        ("content", "jsonb"),
        ("priority", "text"),
        ("ttl_seconds", "integer"),
        ("expires_at", "timestamptz"),
        ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ),
)
MEMORY_BLOCKS = TargetTable(
    "memory.memory_blocks",
    "block_id",
    (
        ("block_id", "uuid"),
        ("namespace", "text"),
        ("label", "text"),
        ("description", "text"),
        ("value", "text"),
        ("char_limit", "integer"),
        ("read_only", "boolean"),
        ("version", "bigint"),
        ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ),
)
CHECKPOINTS = TargetTable(
    "memory.checkpoints",
    "checkpoint_id",
    (
        ("checkpoint_id", "uuid"),
        ("namespace", "text"),
        ("checkpoint_type", "text"),
        ("state_data", "jsonb"),
        ("identity_hash", "text"),
        ("block_digests", "jsonb"),
        ("metadata", "jsonb"),
        ("created_at", "timestamptz"),
    ),
)
CONSCIOUSNESS_STATES = TargetTable(
    "memory.consciousness_states",
    "namespace",
    (
        ("namespace", "text"),
        ("current_focus", "text"),
        ("emotion_focus", "double precision"),
        ("emotion_energy", "double precision"),
        ("emotion_excitement", "double precision"),
        ("working_context", "jsonb"),
        ("active_projects", "text[]"),
        ("metadata", "jsonb"),
        ("last_heartbeat_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ),
)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _recordset(rows: Sequence[Converted]) -> str:
    return json.dumps([row.values for row in rows], default=_json_default)


def _rejection_reason(error: Exception) -> str:
    reason = f"rejected by the database: {getattr(error, 'message', str(error))}"
    # A unique violation's detail names the conflicting key; other details may repeat the whole row.
    if isinstance(error, asyncpg.UniqueViolationError) and error.detail:
        reason += f" ({error.detail})"
    return reason


class Writer:
    """Batch writer of one target table; subclasses add the checks a table needs before inserting."""

    bulk = True

    def __init__(self, table: TargetTable) -> None:
        self.table = table

    async def write(self, connection: asyncpg.Connection, rows: list[Converted]) -> BatchOutcome:
        outcome = BatchOutcome()
        present = await self.present(connection, rows)
        outcome.present = sum(1 for row in rows if row.target_id in present)
        pending = await self.prepare(connection, [row for row in rows if row.target_id not in present], outcome)
        if not pending:
            return outcome
        if self.bulk:
            try:
                async with connection.transaction():
                    inserted, rejected = await self.insert(connection, pending), 0
            except REJECTIONS:
                inserted, rejected = await self._insert_one_by_one(connection, pending, outcome)
        else:
            inserted, rejected = await self._insert_one_by_one(connection, pending, outcome)
        outcome.inserted += inserted
        # Rows neither inserted nor rejected were written meanwhile by another import (ON CONFLICT).
        outcome.present += len(pending) - inserted - rejected
        return outcome

    async def present(self, connection: asyncpg.Connection, rows: list[Converted]) -> set[Any]:
        """Target ids of ``rows`` that are already in the table."""
        found = await connection.fetch(
            f"SELECT {self.table.id_column} AS id FROM {self.table.name}"
            f" WHERE {self.table.id_column} = ANY($1::{self.table.id_type}[])",
            [row.target_id for row in rows],
        )
        return {record["id"] for record in found}

    async def prepare(
        self, connection: asyncpg.Connection, rows: list[Converted], outcome: BatchOutcome
    ) -> list[Converted]:
        """The rows to insert, after table-specific checks (which may skip rows or add notes)."""
        return rows

    async def insert(self, connection: asyncpg.Connection, rows: list[Converted]) -> int:
        return len(await connection.fetch(self.table.insert_sql(), _recordset(rows)))

    async def _insert_one_by_one(
        self, connection: asyncpg.Connection, rows: list[Converted], outcome: BatchOutcome
    ) -> tuple[int, int]:
        """(rows inserted, rows rejected), each row in its own savepoint."""
        inserted = rejected = 0
        for row in rows:
            try:
                async with connection.transaction():
                    inserted += await self.insert(connection, [row])
            except REJECTIONS as error:
                rejected += 1
                outcome.skipped.append((row.source_key, _rejection_reason(error)))
        return inserted, rejected


class EpisodeWriter(Writer):
    """An episode whose project is not in its namespace (skipped, or never existed) keeps the link only in
    ``metadata.imported_from.project_id``: the foreign key keeps episodes and projects in one namespace."""

    async def prepare(
        self, connection: asyncpg.Connection, rows: list[Converted], outcome: BatchOutcome
    ) -> list[Converted]:
        linked = [row for row in rows if row.values["project_id"] is not None]
        if not linked:
            return rows
        found = await connection.fetch(
            "SELECT project_id, namespace FROM memory.projects WHERE project_id = ANY($1::uuid[])",
            [row.values["project_id"] for row in linked],
        )
        projects = {(record["project_id"], record["namespace"]) for record in found}
        for row in linked:
            project_id = row.values["project_id"]
            if (project_id, row.values["namespace"]) not in projects:
                row.values["project_id"] = None
                row.values["metadata"]["imported_from"]["project_id"] = str(project_id)
                outcome.notes.append(
                    (
                        row.source_key,
                        f"project {project_id} is not in namespace {row.values['namespace']!r}; "
                        "the link is kept in metadata.imported_from.project_id",
                    )
                )
        return rows


class MemoryBlockWriter(Writer):
    """One block per (namespace, label). A Cerebro block with the label that was never edited (version 1,
    such as a genesis block the migrations seeded) gives way to the imported one, which carries the old
    brain's id, history and times; a block edited in Cerebro since is kept and the imported one skipped."""

    bulk = False

    async def prepare(
        self, connection: asyncpg.Connection, rows: list[Converted], outcome: BatchOutcome
    ) -> list[Converted]:
        existing = {
            (record["namespace"], record["label"]): record
            for record in await connection.fetch(
                """SELECT b.block_id, b.namespace, b.label, b.version FROM memory.memory_blocks b
                   JOIN unnest($1::text[], $2::text[]) AS k(namespace, label) USING (namespace, label)""",
                [row.values["namespace"] for row in rows],
                [row.values["label"] for row in rows],
            )
        }
        kept = []
        for row in rows:
            block = existing.get((row.values["namespace"], row.values["label"]))
            if block is None:
                kept.append(row)
            elif block["version"] == 1:
                outcome.notes.append(
                    (row.source_key, f"replaces the unedited Cerebro block {block['block_id']} with this label")
                )
                kept.append(row)
            else:
                outcome.skipped.append(
                    (
                        row.source_key,
                        f"namespace {row.values['namespace']!r} already has a block labelled "
                        f"{row.values['label']!r} edited in Cerebro (block {block['block_id']}, "
                        f"version {block['version']}); not overwritten",
                    )
                )
        return kept

    async def insert(self, connection: asyncpg.Connection, rows: list[Converted]) -> int:
        # In the row's savepoint: if the insert is rejected, the unedited block comes back.
        await connection.execute(
            """DELETE FROM memory.memory_blocks b
               USING unnest($1::text[], $2::text[], $3::uuid[]) AS k(namespace, label, block_id)
               WHERE b.namespace = k.namespace AND b.label = k.label AND b.block_id <> k.block_id
                 AND b.version = 1""",
            [row.values["namespace"] for row in rows],
            [row.values["label"] for row in rows],
            [row.target_id for row in rows],
        )
        return await super().insert(connection, rows)


class ConsciousnessStateWriter(Writer):
    """One state per namespace: present if the namespace's state came from this very row (the id in
    ``metadata.imported_from``), skipped if the namespace has a state of its own."""

    async def present(self, connection: asyncpg.Connection, rows: list[Converted]) -> set[Any]:
        existing = await _state_sources(connection, rows)
        return {row.target_id for row in rows if existing.get(row.target_id, "") == _state_source(row)}

    async def prepare(
        self, connection: asyncpg.Connection, rows: list[Converted], outcome: BatchOutcome
    ) -> list[Converted]:
        existing = await _state_sources(connection, rows)
        for row in rows:
            if row.target_id in existing:
                outcome.skipped.append(
                    (row.source_key, f"namespace {row.target_id!r} already has a consciousness state; not overwritten")
                )
        return [row for row in rows if row.target_id not in existing]


def _state_source(row: Converted) -> str:
    return str(row.values["metadata"]["imported_from"]["id"])


async def _state_sources(connection: asyncpg.Connection, rows: list[Converted]) -> dict[str, str | None]:
    """{namespace: id of the old state it was imported from, or None} for the namespaces of ``rows``."""
    found = await connection.fetch(
        """SELECT namespace, metadata -> 'imported_from' ->> 'id' AS source_id
           FROM memory.consciousness_states WHERE namespace = ANY($1::text[])""",
        [row.target_id for row in rows],
    )
    return {record["namespace"]: record["source_id"] for record in found}
