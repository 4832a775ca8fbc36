"""Realistic rows in the old shapes: bulk rows plus every awkward case the importer must handle.

Each builder returns what the import must make of its rows: ids expected to arrive, ids expected to be
skipped with (part of) the reason, so tests compare the report and the database against it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from tests.operations.legacy_schemas import ARIA_SCHEMA, GENESIS_BLOCKS, NEXUS_SCHEMA

NOW = datetime.now(UTC).replace(microsecond=0)
# Rows meant to be alive at import time expire this far after NOW (fixed at import of this module), so a
# long test session never sees them expire before its import runs.
STILL_ALIVE = timedelta(days=2)
LONG_TEXT = ("Ñandú 🧠 memoria de largo plazo — 中文 — ü. " * 400)[:15_000]
ODD_TAGS = ["", "ñandú", "dup", "dup", "  ", "🧠"]
CLEAN_TAGS = ["ñandú", "dup", "🧠"]


@dataclass
class Expected:
    """Per source table: ids that must arrive, and {id: reason fragment} for rows that must be skipped."""

    arrive: dict[str, list[object]] = field(default_factory=dict)
    skip: dict[str, dict[str, str]] = field(default_factory=dict)

    def row(self, table: str, key: object) -> None:
        self.arrive.setdefault(table, []).append(key)

    def skipped(self, table: str, key: str, reason: str) -> None:
        self.skip.setdefault(table, {})[key] = reason


def vector_text(dimensions: int, seed: int) -> str:
    return "[" + ",".join(f"{((seed * 31 + i) % 97) / 97:.4f}" for i in range(dimensions)) + "]"


@dataclass
class NexusSource:
    expected: Expected
    project_ids: dict[str, uuid.UUID]
    long_episode: uuid.UUID
    unlinked_episode: uuid.UUID
    genesis_edited_value: str
    episodes_with_vectors: int


async def fill_nexus(connection: asyncpg.Connection, bulk_episodes: int = 1000) -> NexusSource:
    await connection.execute(NEXUS_SCHEMA)
    await connection.execute(GENESIS_BLOCKS)
    expected = Expected()

    projects = {name: uuid.uuid4() for name in ("master", "research", "archived")}
    await connection.executemany(
        "INSERT INTO projects (project_id, project_name, project_dna, description, status, metadata, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)",
        [
            (projects["master"], "Cerebro Master", "cerebro_master_nexus_001", "the new brain", "active",
             json.dumps({"owner": "ricardo"}), NOW - timedelta(days=90)),
            (projects["research"], "Ñandú 🧠 research", None, None, None, None, NOW - timedelta(days=80)),
            (projects["archived"], "Old archive", "old_001", "retired", "archived", None, NOW - timedelta(days=70)),
        ],
    )  # fmt: skip
    expected.row("public.projects", projects["master"])
    expected.row("public.projects", projects["research"])
    expected.skipped("public.projects", f"project_id={projects['archived']}", "status 'archived'")

    # Bulk episodes: every 10th carries a 384-d vector, every 3rd belongs to a project.
    bulk = [uuid.uuid4() for _ in range(bulk_episodes)]
    await connection.executemany(
        """INSERT INTO zep_episodic_memory
               (episode_id, timestamp, content, importance_score, tags, embedding, project_id, metadata, created_at)
           VALUES ($1, $2, $3, $4, $5, $6::vector, $7, $8::jsonb, $9)""",
        [
            (
                episode_id,
                NOW - timedelta(minutes=index),
                f"Episodio {index}: NEXUS depuró el módulo {index % 17} — {'ü' * (index % 5)}",
                (index % 11) / 10,
                ["debugging", f"module_{index % 17}"],
                vector_text(384, index) if index % 10 == 0 else None,
                projects["master"] if index % 3 == 0 else None,
                json.dumps({"session": index}),
                NOW - timedelta(minutes=index, seconds=-1),
            )
            for index, episode_id in enumerate(bulk)
        ],
    )
    for episode_id in bulk:
        expected.row("public.zep_episodic_memory", episode_id)

    special = {name: uuid.uuid4() for name in ("long", "nulls", "blank", "no_time", "unlinked", "array", "marker")}
    rows = [
        (special["long"], NOW - timedelta(days=3), LONG_TEXT, 0.9, ODD_TAGS, None, None, None, NOW - timedelta(days=3)),
        (special["nulls"], None, "Sin etiquetas ni importancia", None, None, None, None, None, NOW - timedelta(days=2)),
        (special["blank"], NOW, "   ", 0.5, None, None, None, None, NOW),
        (special["no_time"], None, "Un recuerdo sin fecha", 0.5, None, None, None, None, None),
        (special["unlinked"], NOW, "Del proyecto archivado", 0.4, None, None, projects["archived"], None, NOW),
        (special["array"], NOW, "metadata as an array", 0.4, None, None, None, json.dumps([1, 2]), NOW),
        (special["marker"], NOW, "metadata with a marker", 0.4, None, None, None,
         json.dumps({"imported_from": "aria", "k": 1}), NOW),
    ]  # fmt: skip
    await connection.executemany(
        """INSERT INTO zep_episodic_memory
               (episode_id, timestamp, content, importance_score, tags, embedding, project_id, metadata, created_at)
           VALUES ($1, $2, $3, $4, $5, $6::vector, $7, $8::jsonb, $9)""",
        rows,
    )
    for name in ("long", "nulls", "unlinked", "array", "marker"):
        expected.row("public.zep_episodic_memory", special[name])
    expected.skipped("public.zep_episodic_memory", f"episode_id={special['blank']}", "empty content")
    expected.skipped("public.zep_episodic_memory", f"episode_id={special['no_time']}", "no timestamp")

    semantic = {name: uuid.uuid4() for name in ("vector", "nulls", "blank")}
    await connection.executemany(
        """INSERT INTO zep_semantic_memory
               (semantic_id, concept, definition, relationships, embedding, confidence_score, source_episodes,
                created_at, updated_at)
           VALUES ($1, $2, $3, $4::jsonb, $5::vector, $6, $7, $8, $9)""",
        [
            (semantic["vector"], "pgvector", "Búsqueda por similitud en PostgreSQL",
             json.dumps({"related_concepts": ["hnsw"], "strength": 0.8}), vector_text(384, 1), 0.9,
             [bulk[0], bulk[1]], NOW - timedelta(days=5), NOW - timedelta(days=1)),
            (semantic["nulls"], "Letta", None, None, None, None, None, NOW - timedelta(days=4), None),
            (semantic["blank"], "  ", "no concept", None, None, 0.5, None, NOW, NOW),
        ],
    )  # fmt: skip
    expected.row("public.zep_semantic_memory", semantic["vector"])
    expected.row("public.zep_semantic_memory", semantic["nulls"])
    expected.skipped("public.zep_semantic_memory", f"semantic_id={semantic['blank']}", "empty concept")

    working = {name: uuid.uuid4() for name in ("live", "expired", "no_expiry", "bad_priority", "array")}
    await connection.executemany(
        """INSERT INTO zep_working_memory
               (working_id, context_type, active_content, priority, ttl_seconds, expires_at, created_at)
           VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7)""",
        [
            (working["live"], "task", json.dumps({"task": "importar"}), "high", 7200, NOW + STILL_ALIVE,
             NOW - timedelta(hours=1)),
            (working["expired"], "task", json.dumps({"task": "old"}), "normal", 60, NOW - timedelta(hours=1),
             NOW - timedelta(hours=2)),
            (working["no_expiry"], None, json.dumps({"chat": "hola"}), None, None, None, NOW),
            (working["bad_priority"], "task", json.dumps({}), "URGENT", 60, NOW + STILL_ALIVE, NOW),
            (working["array"], "conversation", json.dumps(["a", "b"]), "low", 600, NOW + STILL_ALIVE, NOW),
        ],
    )  # fmt: skip
    for name in ("live", "no_expiry", "array"):
        expected.row("public.zep_working_memory", working[name])
    expected.skipped("public.zep_working_memory", f"working_id={working['expired']}", "expired at")
    expected.skipped("public.zep_working_memory", f"working_id={working['bad_priority']}", "priority 'URGENT'")

    edited_value = "Phase 1: COMPLETADO. Phase 2: COMPLETADO — red distribuida con consenso 2/3."
    await connection.execute(
        """UPDATE nexus_memory.memory_blocks SET value = $1, version = 3, updated_at = $2
           WHERE label = 'consciousness_expansion'""",
        edited_value,
        NOW - timedelta(days=1),
    )
    await connection.execute(
        "UPDATE nexus_memory.memory_blocks SET created_at = $1, updated_at = $1 WHERE version = 1",
        NOW - timedelta(days=100),
    )
    extra_blocks = {"notes": uuid.uuid4(), "bad": uuid.uuid4()}
    await connection.executemany(
        "INSERT INTO nexus_memory.memory_blocks (block_id, label, description, value) VALUES ($1, $2, $3, $4)",
        [
            (extra_blocks["notes"], "project_notes", None, "notas " * 500),
            (extra_blocks["bad"], "Bad Label", "x", "y"),
        ],
    )
    for record in await connection.fetch("SELECT block_id FROM nexus_memory.memory_blocks WHERE label <> 'Bad Label'"):
        expected.row("nexus_memory.memory_blocks", record["block_id"])
    expected.skipped("nexus_memory.memory_blocks", f"block_id={extra_blocks['bad']}", "is not a block label")

    checkpoints = {name: uuid.uuid4() for name in ("valid", "upper", "bad")}
    await connection.executemany(
        """INSERT INTO nexus_memory.consciousness_checkpoints
               (checkpoint_id, checkpoint_type, state_data, identity_hash, continuity_score, created_at, metadata)
           VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7::jsonb)""",
        [
            (checkpoints["valid"], "restart", json.dumps({"focus": "memoria"}), "ab" * 32, 0.97,
             NOW - timedelta(days=10), json.dumps({"reason": "deploy"})),
            (checkpoints["upper"], "manual", json.dumps({}), "CD" * 32, None, NOW - timedelta(days=9), None),
            (checkpoints["bad"], "manual", json.dumps({}), "abc", 1.0, NOW, None),
        ],
    )  # fmt: skip
    expected.row("nexus_memory.consciousness_checkpoints", checkpoints["valid"])
    expected.row("nexus_memory.consciousness_checkpoints", checkpoints["upper"])
    expected.skipped(
        "nexus_memory.consciousness_checkpoints", f"checkpoint_id={checkpoints['bad']}", "not a hex SHA-256"
    )

    states = {"older": uuid.uuid4(), "newer": uuid.uuid4()}
    await connection.executemany(
        """INSERT INTO nexus_memory.consciousness_state
               (state_id, current_focus, emotional_vector, working_context, active_projects, last_heartbeat)
           VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6)""",
        [
            (states["older"], "old focus", None, None, None, NOW - timedelta(days=2)),
            (states["newer"], "importar el cerebro viejo", json.dumps({"focus": 0.9, "energy": 0.7, "excitement": 1}),
             json.dumps({"step": 4}), ["cerebro_master_nexus_001"], NOW - timedelta(hours=1)),
        ],
    )  # fmt: skip
    expected.row("nexus_memory.consciousness_state", states["newer"])
    expected.skipped("nexus_memory.consciousness_state", f"state_id={states['older']}", "an older state")

    await connection.execute(
        "INSERT INTO nexus_memory.instance_network (instance_name, instance_type) VALUES ('nexus-1', 'primary')"
    )
    await connection.execute(
        "INSERT INTO embeddings_queue (episode_id, content) SELECT episode_id, content FROM zep_episodic_memory LIMIT 3"
    )
    return NexusSource(
        expected,
        projects,
        special["long"],
        special["unlinked"],
        edited_value,
        episodes_with_vectors=len(range(0, bulk_episodes, 10)),
    )


@dataclass
class AriaSource:
    expected: Expected
    agents: dict[str, str]
    long_serial: int
    json_serial: int
    type_only_serial: int
    uuid_episode_id: uuid.UUID
    null_episode_id_serial: int
    vectors: int


async def fill_aria(connection: asyncpg.Connection, bulk_episodes: int = 300) -> AriaSource:
    await connection.execute(ARIA_SCHEMA)
    expected = Expected()
    agents = ["aria", "NEXUS", "Ricardo Ñ"]
    await connection.execute(
        """INSERT INTO memory_system.episodes
               (episode_id, agent_id, timestamp, action_type, action_details, importance_score, tags)
           SELECT 'ep-' || n, ($2::text[])[1 + n % 3], $3::timestamptz - make_interval(mins => n), 'conversation',
                  jsonb_build_object('content', 'Conversación ' || n || ' con Ricardo — ñ', 'channel', 'chat'),
                  (n % 10) / 10.0, ARRAY['neural_mesh']
           FROM generate_series(1, $1) AS n""",
        bulk_episodes,
        agents,
        NOW,
    )
    for record in await connection.fetch("SELECT id FROM memory_system.episodes ORDER BY id"):
        expected.row("memory_system.episodes", record["id"])

    uuid_episode_id = uuid.uuid4()
    specials = [
        ("long", "ep-long", "aria", NOW, "reflection", {"content": LONG_TEXT[:12_000], "mood": "calma"}, 0.8, ODD_TAGS),
        ("json", "ep-json", "NEXUS", NOW, "code_change", {"files": ["a.py"], "lines": 42}, 0.6, None),
        ("type_only", "ep-type", "aria", NOW, "heartbeat", {}, None, None),
        ("empty", "ep-empty", "aria", NOW, "", {}, 0.5, None),
        ("bad_importance", "ep-bad", "aria", NOW, "note", {"text": "demasiado importante"}, 7.0, None),
        ("nan", "ep-nan", "aria", NOW, "note", {"text": "NaN"}, float("nan"), None),
        ("blank_agent", "ep-blank-agent", "", NOW, "note", {"text": "de nadie"}, 0.5, None),
        ("no_episode_id", None, "Ricardo Ñ", NOW, "note", {"message": "sin episode_id"}, 0.5, None),
        ("uuid", str(uuid_episode_id), "aria", NOW, "note", {"summary": "con UUID"}, 0.5, None),
        ("no_time", "ep-no-time", "aria", None, "note", {"text": "sin fecha"}, 0.5, None),
    ]  # fmt: skip
    serials: dict[str, int] = {}
    for name, episode_id, agent_id, timestamp, action_type, details, importance, tags in specials:
        serials[name] = await connection.fetchval(
            """INSERT INTO memory_system.episodes
                   (episode_id, agent_id, timestamp, action_type, action_details, importance_score, tags,
                    context_state, consolidated, cross_reference, handoff_packet)
               VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8::jsonb, $9, $10, $11::jsonb) RETURNING id""",
            episode_id,
            agent_id,
            timestamp,
            action_type,
            json.dumps(details),
            importance,
            tags,
            json.dumps({"emotion": "focus"}) if name == "long" else None,
            name == "long",
            uuid.uuid4() if name == "long" else None,
            json.dumps({"to": "nexus"}) if name == "json" else None,
        )
    for name in ("long", "json", "type_only", "no_episode_id", "uuid"):
        expected.row("memory_system.episodes", serials[name])
    for name, reason in (
        ("empty", "empty content"),
        ("bad_importance", "importance 7.0"),
        ("nan", "importance nan"),
        ("blank_agent", "empty agent_id"),
        ("no_time", "no timestamp"),
    ):
        expected.skipped("memory_system.episodes", f"id={serials[name]}", reason)

    semantic = {name: uuid.uuid4() for name in ("vector", "plain", "bad")}
    await connection.executemany(
        """INSERT INTO memory_system.semantic_memory
               (id, concept, content, embedding, knowledge_type, confidence_score, source_episodes)
           VALUES ($1, $2, $3, $4::vector, $5, $6, $7)""",
        [
            (semantic["vector"], "Neural Mesh", "Protocolo brain-to-brain entre agentes", vector_text(1536, 3),
             "technical", 0.9, [uuid.uuid4()]),
            (semantic["plain"], "Ricardo", "Strategic guardian", None, "general", 0.5, None),
            (semantic["bad"], "Exceso", "confianza imposible", vector_text(1536, 4), "general", 2.0, None),
        ],
    )  # fmt: skip
    expected.row("memory_system.semantic_memory", semantic["vector"])
    expected.row("memory_system.semantic_memory", semantic["plain"])
    expected.skipped("memory_system.semantic_memory", f"id={semantic['bad']}", "confidence 2.0")

    working = {name: uuid.uuid4() for name in ("live", "expired", "no_expiry")}
    await connection.executemany(
        """INSERT INTO memory_system.working_memory
               (id, session_id, agent_id, context_key, context_data, tags, expiry_time, created_at)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)""",
        [
            (working["live"], "s-1", "aria", "current_task", json.dumps({"task": "migrar"}), ["", "x"],
             NOW + STILL_ALIVE, NOW - timedelta(minutes=5)),
            (working["expired"], "s-0", "aria", "old_task", json.dumps({}), None, NOW - timedelta(hours=2),
             NOW - timedelta(hours=3)),
            (working["no_expiry"], "s-2", "NEXUS", "handoff", json.dumps({"packet": 1}), None, None, NOW),
        ],
    )  # fmt: skip
    expected.row("memory_system.working_memory", working["live"])
    expected.row("memory_system.working_memory", working["no_expiry"])
    expected.skipped("memory_system.working_memory", f"id={working['expired']}", "expired at")

    return AriaSource(
        expected,
        {"aria": "aria", "NEXUS": "nexus", "Ricardo Ñ": "ricardo_n"},
        serials["long"],
        serials["json"],
        serials["type_only"],
        uuid_episode_id,
        serials["no_episode_id"],
        vectors=2,
    )
