"""The running consciousness state of each namespace (`memory.consciousness_states`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from services.memory.db import Connection, MemoryDatabase, namespace_errors, note_written

COLUMNS = """s.namespace, s.current_focus, s.emotion_focus, s.emotion_energy, s.emotion_excitement, s.working_context,
    s.active_projects, s.metadata, s.last_heartbeat_at, s.updated_at, s.version"""


@dataclass(frozen=True)
class EmotionalVector:
    focus: float
    energy: float
    excitement: float


@dataclass(frozen=True)
class StateChanges:
    """New values by column: only the columns of the fields named by the update mask are present (the
    emotional vector's three together)."""

    values: dict[str, Any]


# A column of each group memory.update_consciousness_state changes, in the order of its `changing` flags.
_CHANGED_TOGETHER = ("current_focus", "emotion_focus", "working_context", "active_projects", "metadata")


def emotional_columns(vector: EmotionalVector | None) -> dict[str, float | None]:
    return {
        "emotion_focus": None if vector is None else vector.focus,
        "emotion_energy": None if vector is None else vector.energy,
        "emotion_excitement": None if vector is None else vector.excitement,
    }


async def get_state(connection: Connection, namespace: str) -> asyncpg.Record | None:
    return await connection.fetchrow(
        f"SELECT {COLUMNS} FROM memory.consciousness_states s WHERE s.namespace = $1", namespace
    )


async def update_state(db: MemoryDatabase, namespace: str, changes: StateChanges) -> asyncpg.Record:
    """Create the state with ``changes`` on first use, else change only those columns (a new version); in one
    statement on the primary (memory.update_consciousness_state)."""
    values = changes.values
    with namespace_errors(namespace):
        row = await db.primary.fetchrow(
            "SELECT * FROM memory.update_consciousness_state($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            namespace,
            [column in values for column in _CHANGED_TOGETHER],
            values.get("current_focus"),
            values.get("emotion_focus"),
            values.get("emotion_energy"),
            values.get("emotion_excitement"),
            values.get("working_context"),
            values.get("active_projects"),
            values.get("metadata"),
        )
    assert row is not None  # an upsert returns its row
    note_written(row)
    return row


async def heartbeat(db: MemoryDatabase, namespace: str) -> asyncpg.Record:
    """The state with its heartbeat now (created on first use), in one statement on the primary."""
    with namespace_errors(namespace):
        row = await db.primary.fetchrow("SELECT * FROM memory.heartbeat($1)", namespace)
    assert row is not None  # an upsert returns its row
    note_written(row)
    return row
