"""The NEXUS Letta/Zep database (document 000): projects, zep_* memories, identity blocks, checkpoints.

It has no agent column: every row belongs to the agent ``nexus`` (see ``--namespace-map``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from services.operations.importer.legacy import (
    HAD_VECTOR,
    Converter,
    ImportContext,
    LegacyTable,
    SourceColumn,
    UnimportedTable,
    imported_from,
)
from services.operations.importer.rows import Converted, Skip
from services.operations.importer.target import (
    CHECKPOINTS,
    CONSCIOUSNESS_STATES,
    EPISODES,
    MEMORY_BLOCKS,
    PROJECTS,
    SEMANTIC_MEMORIES,
    WORKING_MEMORY,
    ConsciousnessStateWriter,
    EpisodeWriter,
    MemoryBlockWriter,
    Writer,
)
from services.operations.importer.values import (
    as_object,
    aware,
    blank,
    clean_tags,
    first_time,
    tags_changed,
    unit_interval,
)

SYSTEM = "nexus-letta-zep"
DEFAULT_AGENT = "nexus"
# The zep_* tables and projects were created without a schema name: wherever the search path put them.
MEMORY_SCHEMAS = ("public", "nexus_memory")
IDENTITY_SCHEMAS = ("nexus_memory",)

PROJECT_STATUSES = ("active", "completed", "paused")
PRIORITIES = ("critical", "high", "normal", "low")
MAX_NAME_CHARS = 255
MAX_DNA_CHARS = 100
MAX_CONCEPT_CHARS = 500
MAX_TYPE_CHARS = 100
MAX_DESCRIPTION_CHARS = 1000
DEFAULT_CHAR_LIMIT = 2000
MAX_CHAR_LIMIT = 100_000
OLD_DEFAULT_TTL = timedelta(seconds=86400)
MAX_TTL = timedelta(days=30)
BLOCK_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,254}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
EMOTIONS = ("focus", "energy", "excitement")


def _metadata(table: str, row: Mapping[str, Any], source_id: Any) -> dict[str, Any]:
    """The row's metadata object with the ``imported_from`` marker added."""
    metadata = dict(as_object(row["metadata"], "legacy_metadata"))
    metadata["imported_from"] = imported_from(SYSTEM, table, str(source_id), metadata)
    return metadata


def convert_project(row: Mapping[str, Any], namespace: str, context: ImportContext) -> Converted | Skip:
    name = row["project_name"]
    if blank(name):
        return Skip("empty project_name")
    if len(name) > MAX_NAME_CHARS:
        return Skip(f"project_name is {len(name)} characters; the limit is {MAX_NAME_CHARS}")
    dna = None if blank(row["project_dna"]) else row["project_dna"]
    if dna is not None and len(dna) > MAX_DNA_CHARS:
        return Skip(f"project_dna is {len(dna)} characters; the limit is {MAX_DNA_CHARS}")
    status = (row["status"] or "active").strip().lower()
    if status not in PROJECT_STATUSES:
        return Skip(f"status {row['status']!r} is not one of {', '.join(PROJECT_STATUSES)}")
    created_at = first_time(row["created_at"]) or context.started_at
    return Converted(
        row["project_id"],
        {
            "project_id": row["project_id"],
            "namespace": namespace,
            "display_name": name,
            "dna": dna,
            "description": row["description"] or "",
            "status": status,
            "metadata": _metadata("projects", row, row["project_id"]),
            "created_at": created_at,
            "updated_at": first_time(row["updated_at"], created_at),
        },
    )


def convert_episode(row: Mapping[str, Any], namespace: str, context: ImportContext) -> Converted | Skip:
    if blank(row["content"]):
        return Skip("empty content")
    importance = unit_interval(row["importance"], 0.5)
    if importance is None:
        return Skip(f"importance {row['importance']!r} is not between 0 and 1")
    occurred_at = first_time(row["timestamp"], row["created_at"])
    if occurred_at is None:
        return Skip("no timestamp: timestamp and created_at are NULL")
    tags = clean_tags(row["tags"])
    metadata = _metadata("zep_episodic_memory", row, row["episode_id"])
    if tags_changed(row["tags"], tags):
        metadata["imported_from"]["tags"] = row["tags"]
    created_at = first_time(row["created_at"], occurred_at)
    return Converted(
        row["episode_id"],
        {
            "episode_id": row["episode_id"],
            "namespace": namespace,
            "content": row["content"],
            "importance": importance,
            "tags": tags,
            "metadata": metadata,
            "project_id": row["project_id"],
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
    return Converted(
        row["semantic_id"],
        {
            "semantic_memory_id": row["semantic_id"],
            "namespace": namespace,
            "concept": concept,
            "definition": row["definition"] or "",
            "relationships": as_object(row["relationships"], "legacy_relationships"),
            "confidence": confidence,
            "source_episode_ids": [item for item in row["source_episodes"] or () if item is not None],
            "created_at": created_at,
            "updated_at": first_time(row["updated_at"], created_at),
        },
    )


def convert_working_item(row: Mapping[str, Any], namespace: str, context: ImportContext) -> Converted | Skip:
    context_type = "unspecified" if blank(row["context_type"]) else row["context_type"]
    if len(context_type) > MAX_TYPE_CHARS:
        return Skip(f"context_type is {len(context_type)} characters; the limit is {MAX_TYPE_CHARS}")
    priority = (row["priority"] or "normal").strip().lower()
    if priority not in PRIORITIES:
        return Skip(f"priority {row['priority']!r} is not one of {', '.join(PRIORITIES)}")
    created_at = first_time(row["created_at"]) or context.started_at
    ttl = OLD_DEFAULT_TTL if row["ttl_seconds"] is None else timedelta(seconds=row["ttl_seconds"])
    expires_at = aware(row["expires_at"]) or created_at + ttl
    if expires_at <= context.started_at:
        return Skip(f"expired at {expires_at.isoformat()}")
    return Converted(
        row["working_id"],
        {
            "item_id": row["working_id"],
            "namespace": namespace,
            "context_type": context_type,
            "content": as_object(row["active_content"], "value"),
            "priority": priority,
            "ttl_seconds": min(max(round(ttl.total_seconds()), 1), int(MAX_TTL.total_seconds())),
            "expires_at": expires_at,
            "created_at": created_at,
            "updated_at": created_at,
        },
    )


def convert_block(row: Mapping[str, Any], namespace: str, context: ImportContext) -> Converted | Skip:
    label = row["label"]
    if not BLOCK_LABEL.match(label):
        return Skip(f"label {label!r} is not a block label (a lowercase letter, then lowercase letters, digits, '_')")
    description = row["description"] or ""
    if len(description) > MAX_DESCRIPTION_CHARS:
        return Skip(f"description is {len(description)} characters; the limit is {MAX_DESCRIPTION_CHARS}")
    value = row["value"]
    if len(value) > MAX_CHAR_LIMIT:
        return Skip(f"value is {len(value)} characters; the largest char_limit is {MAX_CHAR_LIMIT}")
    version = 1 if row["version"] is None else row["version"]
    if version < 1:
        return Skip(f"version {version} is below 1")
    created_at = first_time(row["created_at"]) or context.started_at
    return Converted(
        row["block_id"],
        {
            "block_id": row["block_id"],
            "namespace": namespace,
            "label": label,
            "description": description,
            "value": value,
            # The old blocks had no limit; the new default is raised where a value is longer.
            "char_limit": max(DEFAULT_CHAR_LIMIT, len(value)),
            "read_only": bool(row["read_only"]),
            "version": version,
            "created_at": created_at,
            "updated_at": first_time(row["updated_at"], created_at),
        },
    )


def convert_checkpoint(row: Mapping[str, Any], namespace: str, context: ImportContext) -> Converted | Skip:
    if blank(row["checkpoint_type"]):
        return Skip("empty checkpoint_type")
    if len(row["checkpoint_type"]) > MAX_TYPE_CHARS:
        return Skip(f"checkpoint_type is {len(row['checkpoint_type'])} characters; the limit is {MAX_TYPE_CHARS}")
    identity_hash = (row["identity_hash"] or "").strip().lower()
    if not SHA256_HEX.match(identity_hash):
        return Skip(f"identity_hash {row['identity_hash']!r} is not a hex SHA-256")
    metadata = _metadata("consciousness_checkpoints", row, row["checkpoint_id"])
    if row["continuity_score"] is not None:
        metadata["imported_from"]["continuity_score"] = row["continuity_score"]
    return Converted(
        row["checkpoint_id"],
        {
            "checkpoint_id": row["checkpoint_id"],
            "namespace": namespace,
            "checkpoint_type": row["checkpoint_type"],
            "state_data": as_object(row["state_data"], "value"),
            "identity_hash": identity_hash,
            # The old system kept no per-block digests, so continuity against these checkpoints
            # reports every current block as changed.
            "block_digests": {},
            "metadata": metadata,
            "created_at": first_time(row["created_at"]) or context.started_at,
        },
    )


def _emotions(vector: Any) -> tuple[float | None, float | None, float | None]:
    """(focus, energy, excitement) when the old vector has all three in [0, 1], else three NULLs."""
    if not isinstance(vector, dict):
        return None, None, None
    values = [vector.get(key) for key in EMOTIONS]
    numbers = [float(value) for value in values if isinstance(value, int | float) and not isinstance(value, bool)]
    if len(numbers) != len(EMOTIONS) or not all(0.0 <= number <= 1.0 for number in numbers):
        return None, None, None
    return numbers[0], numbers[1], numbers[2]


def convert_state(row: Mapping[str, Any], namespace: str, context: ImportContext) -> Converted | Skip:
    if not row["is_newest"]:
        return Skip("an older state: a namespace has one state, the newest by last_heartbeat is imported")
    metadata = _metadata("consciousness_state", row, row["state_id"])
    if row["emotional_vector"] is not None:
        metadata["imported_from"]["emotional_vector"] = row["emotional_vector"]
    focus, energy, excitement = _emotions(row["emotional_vector"])
    heartbeat = first_time(row["last_heartbeat"]) or context.started_at
    return Converted(
        namespace,
        {
            "namespace": namespace,
            "current_focus": row["current_focus"] or "",
            "emotion_focus": focus,
            "emotion_energy": energy,
            "emotion_excitement": excitement,
            "working_context": as_object(row["working_context"], "value"),
            "active_projects": [item for item in row["active_projects"] or () if item is not None],
            "metadata": metadata,
            "last_heartbeat_at": heartbeat,
            "updated_at": heartbeat,
        },
    )


def _table(
    schemas: tuple[str, ...],
    table: str,
    key: str,
    columns: tuple[SourceColumn, ...],
    writer: Writer,
    convert: Converter,
) -> LegacyTable:
    return LegacyTable(SYSTEM, schemas, table, key, columns, writer, convert, DEFAULT_AGENT)


# Projects come first: episodes refer to them.
TABLES = (
    _table(
        MEMORY_SCHEMAS,
        "projects",
        "project_id",
        (
            SourceColumn("project_id"),
            SourceColumn("project_name"),
            SourceColumn("project_dna", required=False),
            SourceColumn("description", required=False),
            SourceColumn("status", required=False),
            SourceColumn("metadata", required=False),
            SourceColumn("created_at", required=False),
            SourceColumn("updated_at", required=False),
        ),
        Writer(PROJECTS),
        convert_project,
    ),
    _table(
        MEMORY_SCHEMAS,
        "zep_episodic_memory",
        "episode_id",
        (
            SourceColumn("episode_id"),
            SourceColumn("timestamp", required=False),
            SourceColumn("content"),
            SourceColumn("importance", ("importance_score", "importance"), required=False),
            SourceColumn("tags", required=False),
            HAD_VECTOR,
            SourceColumn("project_id", required=False),
            SourceColumn("metadata", required=False),
            SourceColumn("created_at", required=False),
        ),
        EpisodeWriter(EPISODES),
        convert_episode,
    ),
    _table(
        MEMORY_SCHEMAS,
        "zep_semantic_memory",
        "semantic_id",
        (
            SourceColumn("semantic_id"),
            SourceColumn("concept"),
            SourceColumn("definition", required=False),
            SourceColumn("relationships", required=False),
            HAD_VECTOR,
            SourceColumn("confidence", ("confidence_score", "confidence"), required=False),
            SourceColumn("source_episodes", required=False),
            SourceColumn("created_at", required=False),
            SourceColumn("updated_at", required=False),
        ),
        Writer(SEMANTIC_MEMORIES),
        convert_semantic,
    ),
    _table(
        MEMORY_SCHEMAS,
        "zep_working_memory",
        "working_id",
        (
            SourceColumn("working_id"),
            SourceColumn("context_type", required=False),
            SourceColumn("active_content"),
            SourceColumn("priority", required=False),
            SourceColumn("ttl_seconds", required=False),
            SourceColumn("expires_at", required=False),
            SourceColumn("created_at", required=False),
        ),
        Writer(WORKING_MEMORY),
        convert_working_item,
    ),
    _table(
        IDENTITY_SCHEMAS,
        "memory_blocks",
        "block_id",
        (
            SourceColumn("block_id"),
            SourceColumn("label"),
            SourceColumn("description", required=False),
            SourceColumn("value"),
            SourceColumn("read_only", required=False),
            SourceColumn("version", required=False),
            SourceColumn("created_at", required=False),
            SourceColumn("updated_at", required=False),
        ),
        MemoryBlockWriter(MEMORY_BLOCKS),
        convert_block,
    ),
    _table(
        IDENTITY_SCHEMAS,
        "consciousness_checkpoints",
        "checkpoint_id",
        (
            SourceColumn("checkpoint_id"),
            SourceColumn("checkpoint_type"),
            SourceColumn("state_data"),
            SourceColumn("identity_hash"),
            SourceColumn("continuity_score", required=False),
            SourceColumn("created_at", required=False),
            SourceColumn("metadata", required=False),
        ),
        Writer(CHECKPOINTS),
        convert_checkpoint,
    ),
    _table(
        IDENTITY_SCHEMAS,
        "consciousness_state",
        "state_id",
        (
            SourceColumn("state_id"),
            SourceColumn("current_focus", required=False),
            SourceColumn("emotional_vector", required=False),
            SourceColumn("working_context", required=False),
            SourceColumn("active_projects", required=False),
            SourceColumn("last_heartbeat"),
            SourceColumn("metadata", required=False),
            # Computed over the whole table (the importer applies its keyset outside this expression).
            SourceColumn(
                "is_newest",
                ("last_heartbeat",),
                template="row_number() OVER (ORDER BY {} DESC NULLS LAST, state_id DESC) = 1",
            ),
        ),
        ConsciousnessStateWriter(CONSCIOUSNESS_STATES),
        convert_state,
    ),
)

UNIMPORTED = (
    UnimportedTable(
        SYSTEM,
        IDENTITY_SCHEMAS,
        "instance_network",
        "instances register themselves with the consensus service under an Ed25519 key; old rows have none",
    ),
    UnimportedTable(
        SYSTEM,
        IDENTITY_SCHEMAS,
        "distributed_consensus",
        "old decisions carry no signed votes the consensus service could verify; they stay in the old database",
    ),
    UnimportedTable(
        SYSTEM,
        MEMORY_SCHEMAS,
        "embeddings_queue",
        "the memory schema's triggers queue every imported episode and semantic memory for embedding",
    ),
)
