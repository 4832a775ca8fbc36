"""The ARIA v4 database (document 004): `memory_system.episodes`, `.semantic_memory`, `.working_memory`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from services.operations.importer.legacy import HAD_VECTOR, ImportContext, LegacyTable, SourceColumn, imported_from
from services.operations.importer.rows import Converted, Skip
from services.operations.importer.target import (
    EPISODES,
    SEMANTIC_MEMORIES,
    WORKING_MEMORY,
    EpisodeWriter,
    Writer,
)
from services.operations.importer.values import (
    aware,
    blank,
    clean_tags,
    first_time,
    tags_changed,
    unit_interval,
)

SYSTEM = "aria-v4"
DEFAULT_AGENT = "aria"
SCHEMAS = ("memory_system",)

# ARIA episodes have a serial id and a free-form `episode_id`, neither of them a UUID: the new id is
# `episode_id` itself when it is a UUID, else a UUIDv5 of the agent and `episode_id` (or of the agent and
# the serial id when `episode_id` is NULL). The same row always gets the same id, so re-imports conflict.
EPISODE_IDS = uuid.UUID("f03aa237-e946-4671-80ec-2e631deb1041")

# Keys of `action_details` that hold an episode's text, in order of preference.
TEXT_KEYS = ("content", "text", "message", "description", "summary")
# ARIA columns with no counterpart in memory.episodes, kept in its metadata under the same names.
EPISODE_EXTRAS = (
    "action_type",
    "action_details",
    "context_state",
    "consolidated",
    "cross_reference",
    "project_dna_id",
    "handoff_packet",
)
MAX_CONCEPT_CHARS = 500
MAX_CONTEXT_TYPE_CHARS = 100
MAX_TTL = timedelta(days=30)


def episode_uuid(agent_id: str, episode_id: str | None, serial_id: int) -> uuid.UUID:
    if episode_id is None:
        return uuid.uuid5(EPISODE_IDS, f"{agent_id}\x00id\x00{serial_id}")
    try:
        return uuid.UUID(episode_id)
    except ValueError:
        return uuid.uuid5(EPISODE_IDS, f"{agent_id}\x00episode_id\x00{episode_id}")


def episode_content(action_type: str | None, details: Any) -> str:
    """The episode's text: a text field of `action_details`, else the action type and the details as JSON."""
    if isinstance(details, dict):
        for key in TEXT_KEYS:
            value = details.get(key)
            if isinstance(value, str) and value.strip():
                return value
    if isinstance(details, str) and details.strip():
        return details
    prefix = "" if blank(action_type) else str(action_type)
    if details in (None, {}, [], ""):
        return prefix
    rendered = json.dumps(details, ensure_ascii=False, sort_keys=True)
    return f"{prefix}: {rendered}" if prefix else rendered


def convert_episode(row: Mapping[str, Any], namespace: str, context: ImportContext) -> Converted | Skip:
    content = episode_content(row["action_type"], row["action_details"])
    if blank(content):
        return Skip("empty content: action_type and action_details hold no text")
    importance = unit_interval(row["importance"], 0.5)
    if importance is None:
        return Skip(f"importance {row['importance']!r} is not between 0 and 1")
    occurred_at = first_time(row["timestamp"], row["created_at"])
    if occurred_at is None:
        return Skip("no timestamp: timestamp is NULL")
    tags = clean_tags(row["tags"])
    metadata: dict[str, Any] = {name: row[name] for name in EPISODE_EXTRAS if row[name] is not None}
    marker = imported_from(SYSTEM, "memory_system.episodes", row["id"], {})
    marker["episode_id"] = row["episode_id"]
    if tags_changed(row["tags"], tags):
        marker["tags"] = row["tags"]
    metadata["imported_from"] = marker
    created_at = first_time(row["created_at"], occurred_at)
    episode_id = episode_uuid(row["agent_id"], row["episode_id"], row["id"])
    return Converted(
        episode_id,
        {
            "episode_id": episode_id,
            "namespace": namespace,
            "content": content,
            "importance": importance,
            "tags": tags,
            "metadata": metadata,
            "project_id": None,
            "occurred_at": occurred_at,
            "created_at": created_at,
            "updated_at": created_at,
        },
    )


def convert_semantic(row: Mapping[str, Any], namespace: str, context: ImportContext) -> Converted | Skip:
    concept = row["concept"]
    if blank(concept):
        return Skip("empty concept")
    if len(concept) > MAX_CONCEPT_CHARS:
        return Skip(f"concept is {len(concept)} characters; the limit is {MAX_CONCEPT_CHARS}")
    confidence = unit_interval(row["confidence"], 0.5)
    if confidence is None:
        return Skip(f"confidence {row['confidence']!r} is not between 0 and 1")
    created_at = first_time(row["created_at"]) or context.started_at
    # memory.semantic_memories has no metadata column: the knowledge type goes with the relationships.
    relationships = {} if row["knowledge_type"] is None else {"knowledge_type": row["knowledge_type"]}
    return Converted(
        row["id"],
        {
            "semantic_memory_id": row["id"],
            "namespace": namespace,
            "concept": concept,
            "definition": row["content"] or "",
            "relationships": relationships,
            "confidence": confidence,
            "source_episode_ids": [item for item in row["source_episodes"] or () if item is not None],
            "created_at": created_at,
            "updated_at": first_time(row["updated_at"], created_at),
        },
    )


def convert_working_item(row: Mapping[str, Any], namespace: str, context: ImportContext) -> Converted | Skip:
    context_key = row["context_key"]
    if blank(context_key):
        return Skip("empty context_key")
    if len(context_key) > MAX_CONTEXT_TYPE_CHARS:
        return Skip(f"context_key is {len(context_key)} characters; context_type allows {MAX_CONTEXT_TYPE_CHARS}")
    created_at = first_time(row["created_at"]) or context.started_at
    expires_at = aware(row["expiry_time"])
    if expires_at is None:
        # The new schema requires an expiry: an item that never expired gets the longest one allowed.
        expires_at = context.started_at + MAX_TTL
    elif expires_at <= context.started_at:
        return Skip(f"expired at {expires_at.isoformat()}")
    ttl_seconds = round((expires_at - created_at).total_seconds())
    content: dict[str, Any] = {"session_id": row["session_id"], "data": row["context_data"]}
    if row["tags"] is not None:
        content["tags"] = row["tags"]
    return Converted(
        row["id"],
        {
            "item_id": row["id"],
            "namespace": namespace,
            "context_type": context_key,
            "content": content,
            "priority": "normal",
            "ttl_seconds": min(max(ttl_seconds, 1), int(MAX_TTL.total_seconds())),
            "expires_at": expires_at,
            "created_at": created_at,
            "updated_at": created_at,
        },
    )


TABLES = (
    LegacyTable(
        SYSTEM,
        SCHEMAS,
        "episodes",
        key="id",
        columns=(
            SourceColumn("id"),
            SourceColumn("episode_id", required=False),
            SourceColumn("agent_id"),
            SourceColumn("timestamp", required=False),
            SourceColumn("created_at", required=False),
            SourceColumn("action_type"),
            SourceColumn("action_details"),
            SourceColumn("context_state", required=False),
            SourceColumn("importance", ("importance_score", "importance"), required=False),
            SourceColumn("tags", required=False),
            SourceColumn("consolidated", required=False),
            SourceColumn("cross_reference", required=False),
            SourceColumn("project_dna_id", required=False),
            SourceColumn("handoff_packet", required=False),
        ),
        writer=EpisodeWriter(EPISODES),
        convert=convert_episode,
        default_agent=DEFAULT_AGENT,
        owner="agent_id",
    ),
    LegacyTable(
        SYSTEM,
        SCHEMAS,
        "semantic_memory",
        key="id",
        columns=(
            SourceColumn("id"),
            SourceColumn("concept"),
            SourceColumn("content", required=False),
            HAD_VECTOR,
            SourceColumn("knowledge_type", required=False),
            SourceColumn("confidence", ("confidence_score", "confidence"), required=False),
            SourceColumn("source_episodes", required=False),
            SourceColumn("created_at", required=False),
            SourceColumn("updated_at", required=False),
        ),
        writer=Writer(SEMANTIC_MEMORIES),
        convert=convert_semantic,
        default_agent=DEFAULT_AGENT,
    ),
    LegacyTable(
        SYSTEM,
        SCHEMAS,
        "working_memory",
        key="id",
        columns=(
            SourceColumn("id"),
            SourceColumn("session_id", required=False),
            SourceColumn("agent_id"),
            SourceColumn("context_key"),
            SourceColumn("context_data"),
            SourceColumn("tags", required=False),
            SourceColumn("expiry_time", required=False),
            SourceColumn("created_at", required=False),
        ),
        writer=Writer(WORKING_MEMORY),
        convert=convert_working_item,
        default_agent=DEFAULT_AGENT,
        owner="agent_id",
    ),
)
