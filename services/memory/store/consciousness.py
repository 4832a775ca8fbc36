"""The running consciousness state of each namespace (`memory.consciousness_states`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from services.memory.db import Connection

COLUMNS = """s.namespace, s.current_focus, s.emotion_focus, s.emotion_energy, s.emotion_excitement, s.working_context,
    s.active_projects, s.metadata, s.last_heartbeat_at, s.updated_at, s.version"""


@dataclass(frozen=True)
class EmotionalVector:
    focus: float
    energy: float
    excitement: float


@dataclass(frozen=True)
class StateChanges:
    """Columns to set: only the fields named by the update mask are present."""

    values: dict[str, Any]


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


async def update_state(connection: Connection, namespace: str, changes: StateChanges) -> asyncpg.Record:
    """Create the state with ``changes`` on first use, else change only those columns.

    Column names come from :class:`StateChanges` built by the API from a fixed list, never from input.
    """
    columns = list(changes.values)
    placeholders = [f"${index}" for index in range(2, len(columns) + 2)]
    assignments = [f"{column} = EXCLUDED.{column}" for column in columns]
    row = await connection.fetchrow(
        f"""INSERT INTO memory.consciousness_states AS s (namespace, {", ".join(columns)})
            VALUES ($1, {", ".join(placeholders)})
            ON CONFLICT (namespace) DO UPDATE
            SET {", ".join(assignments)}, version = s.version + 1, updated_at = now(), last_heartbeat_at = now()
            RETURNING {COLUMNS}""",
        namespace,
        *changes.values.values(),
    )
    assert row is not None  # an upsert returns its row
    return row


async def heartbeat(connection: Connection, namespace: str) -> asyncpg.Record:
    row = await connection.fetchrow(
        f"""INSERT INTO memory.consciousness_states AS s (namespace) VALUES ($1)
            ON CONFLICT (namespace) DO UPDATE SET last_heartbeat_at = now()
            RETURNING {COLUMNS}""",
        namespace,
    )
    assert row is not None  # an upsert returns its row
    return row
