"""`cerebro import` of a NEXUS Letta/Zep database (document 000) into a migrated Cerebro database."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable

import asyncpg

from services.operations.importer.report import ImportReport
from services.operations.importer.run import ImportOptions, run_import
from tests.memory.helpers import statistics_drift
from tests.operations.legacy_data import CLEAN_TAGS, LONG_TEXT, ODD_TAGS, NexusSource, fill_nexus
from tests.operations.support import assert_report_matches, table_fingerprints

# Source table -> (target table, target id column, source id column).
IDS = {
    "public.projects": ("memory.projects", "project_id", "project_id"),
    "public.zep_episodic_memory": ("memory.episodes", "episode_id", "episode_id"),
    "public.zep_semantic_memory": ("memory.semantic_memories", "semantic_memory_id", "semantic_id"),
    "public.zep_working_memory": ("memory.working_memory", "item_id", "working_id"),
    "nexus_memory.memory_blocks": ("memory.memory_blocks", "block_id", "block_id"),
    "nexus_memory.consciousness_checkpoints": ("memory.checkpoints", "checkpoint_id", "checkpoint_id"),
}


async def _nexus_source(databases: Callable[[], Awaitable[str]]) -> tuple[str, NexusSource]:
    url = await databases()
    connection = await asyncpg.connect(url)
    try:
        return url, await fill_nexus(connection)
    finally:
        await connection.close()


async def _import(source_url: str, cerebro_url: str, *, dry_run: bool = False) -> ImportReport:
    # A batch size that divides nothing evenly: many pages, a short last one.
    return await run_import(source_url, cerebro_url, ImportOptions(batch_size=97, dry_run=dry_run))


async def test_every_row_arrives_once_with_its_id_time_and_namespace(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, cerebro: asyncpg.Connection
) -> None:
    source_url, source = await _nexus_source(databases)
    report = await _import(source_url, cerebro_url)
    assert_report_matches(report, source.expected)
    assert report.namespaces == {"nexus": "nexus"}
    assert report.created_namespaces == []  # the migrations made it
    vectors = {table.source: table.vectors_dropped for table in report.tables}
    assert vectors["public.zep_episodic_memory"] == source.episodes_with_vectors
    assert vectors["public.zep_semantic_memory"] == 1
    assert [(u.source, u.source_rows) for u in report.unimported] == [
        ("nexus_memory.instance_network", 1),
        ("nexus_memory.distributed_consensus", 0),
        ("public.embeddings_queue", 3),
    ]
    assert not report.complete  # some rows were skipped
    report.close()
    assert await statistics_drift(cerebro) == []

    for source_table, (target_table, id_column, _) in IDS.items():
        rows = await cerebro.fetch(f"SELECT {id_column} AS id, namespace FROM {target_table}")
        assert sorted(str(row["id"]) for row in rows) == sorted(map(str, source.expected.arrive[source_table]))
        assert {row["namespace"] for row in rows} == {"nexus"}

    old = await asyncpg.connect(source_url)
    try:
        old_episodes = {row["episode_id"]: row for row in await old.fetch("SELECT * FROM zep_episodic_memory")}
        old_times = {
            source_table: {
                row["id"]: row["created_at"]
                for row in await old.fetch(f"SELECT {source_id} AS id, created_at FROM {source_table}")
            }
            for source_table, (_, _, source_id) in IDS.items()
        }
    finally:
        await old.close()
    for source_table, (target_table, id_column, _) in IDS.items():
        for row in await cerebro.fetch(f"SELECT {id_column} AS id, created_at FROM {target_table}"):
            assert row["created_at"] == old_times[source_table][row["id"]], (target_table, row["id"])

    new_episodes = {row["episode_id"]: row for row in await cerebro.fetch("SELECT * FROM memory.episodes")}
    for episode_id, new_row in new_episodes.items():
        old_row = old_episodes[episode_id]
        assert new_row["content"] == old_row["content"]
        assert new_row["occurred_at"] == (old_row["timestamp"] or old_row["created_at"])
        assert new_row["importance"] == (0.5 if old_row["importance_score"] is None else old_row["importance_score"])
    assert await cerebro.fetchval("SELECT count(*) FROM memory.episode_vectors") == 0  # embedded anew, later
    long_row = new_episodes[source.long_episode]
    assert long_row["content"] == LONG_TEXT and len(long_row["content"]) == 15_000
    assert hashlib.sha256(LONG_TEXT.encode()).digest() == long_row["content_checksum"]
    assert long_row["tags"] == CLEAN_TAGS
    assert json.loads(long_row["metadata"])["imported_from"]["tags"] == ODD_TAGS
    unlinked = new_episodes[source.unlinked_episode]
    assert unlinked["project_id"] is None
    assert json.loads(unlinked["metadata"])["imported_from"]["project_id"] == str(source.project_ids["archived"])

    # Every imported episode and semantic memory waits in the embeddings queue, exactly once.
    queue = await cerebro.fetchrow(
        """SELECT count(*) FILTER (WHERE episode_id IS NOT NULL) AS episodes,
                  count(*) FILTER (WHERE semantic_memory_id IS NOT NULL) AS semantic,
                  count(*) FILTER (WHERE state <> 'pending') AS not_pending
           FROM memory.embeddings_queue"""
    )
    assert queue["episodes"] == len(new_episodes)
    assert queue["semantic"] == len(source.expected.arrive["public.zep_semantic_memory"])
    assert queue["not_pending"] == 0


async def test_genesis_blocks_keep_the_old_identity_and_its_history(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, cerebro: asyncpg.Connection
) -> None:
    source_url, source = await _nexus_source(databases)
    (await _import(source_url, cerebro_url)).close()
    old = await asyncpg.connect(source_url)
    try:
        old_blocks = {row["label"]: row for row in await old.fetch("SELECT * FROM nexus_memory.memory_blocks")}
    finally:
        await old.close()
    blocks = {row["label"]: row for row in await cerebro.fetch("SELECT * FROM memory.memory_blocks")}
    assert set(blocks) == set(old_blocks) - {"Bad Label"}
    for label, block in blocks.items():
        old_block = old_blocks[label]
        assert (block["block_id"], block["value"], block["version"]) == (
            old_block["block_id"],
            old_block["value"],
            old_block["version"],
        )
        assert (block["created_at"], block["updated_at"]) == (old_block["created_at"], old_block["updated_at"])
        assert block["description"] == (old_block["description"] or "")
        assert block["read_only"] == old_block["read_only"]
        assert block["char_limit"] == max(2000, len(old_block["value"]))
    assert blocks["consciousness_expansion"]["value"] == source.genesis_edited_value
    assert blocks["persona"]["read_only"] and blocks["persona"]["namespace"] == "nexus"
    # The history holds the imported version, not the seed it replaced.
    revisions = await cerebro.fetch(
        "SELECT version, value FROM memory.memory_block_revisions WHERE block_id = $1",
        blocks["consciousness_expansion"]["block_id"],
    )
    assert [(row["version"], row["value"]) for row in revisions] == [(3, source.genesis_edited_value)]
    state = await cerebro.fetchrow("SELECT * FROM memory.consciousness_states WHERE namespace = 'nexus'")
    assert state["current_focus"] == "importar el cerebro viejo"
    assert (state["emotion_focus"], state["emotion_energy"], state["emotion_excitement"]) == (0.9, 0.7, 1.0)
    checkpoints = await cerebro.fetch("SELECT identity_hash, metadata FROM memory.checkpoints ORDER BY created_at")
    assert [row["identity_hash"] for row in checkpoints] == ["ab" * 32, "cd" * 32]
    marker = json.loads(checkpoints[0]["metadata"])
    assert marker["reason"] == "deploy" and marker["imported_from"]["continuity_score"] == 0.97


async def test_a_block_edited_in_cerebro_is_not_overwritten(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, cerebro: asyncpg.Connection
) -> None:
    source_url, _ = await _nexus_source(databases)
    await cerebro.execute(
        "UPDATE memory.memory_blocks SET value = 'edited in Cerebro', version = 2 WHERE label = 'persona'"
    )
    report = await _import(source_url, cerebro_url)
    reasons = [entry.text for entry in report.log.entries("skipped") if "persona" in entry.text]
    report.close()
    assert len(reasons) == 1 and "edited in Cerebro" in reasons[0] and "not overwritten" in reasons[0]
    assert await cerebro.fetchval("SELECT value FROM memory.memory_blocks WHERE label = 'persona'") == (
        "edited in Cerebro"
    )


async def test_importing_again_imports_nothing_new(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, cerebro: asyncpg.Connection
) -> None:
    source_url, source = await _nexus_source(databases)
    (await _import(source_url, cerebro_url)).close()
    before = await table_fingerprints(cerebro)
    again = await _import(source_url, cerebro_url)
    assert_report_matches(again, source.expected, present=True)
    again.close()
    assert await table_fingerprints(cerebro) == before


async def test_dry_run_reports_the_import_and_writes_nothing(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, cerebro: asyncpg.Connection
) -> None:
    source_url, source = await _nexus_source(databases)
    before = await table_fingerprints(cerebro)
    dry = await _import(source_url, cerebro_url, dry_run=True)
    assert dry.dry_run
    assert_report_matches(dry, source.expected)
    notes = sum(1 for _ in dry.log.entries("note"))
    dry.close()
    assert await table_fingerprints(cerebro) == before
    real = await _import(source_url, cerebro_url)
    assert [(t.imported, t.present, t.skipped) for t in real.tables] == [
        (t.imported, t.present, t.skipped) for t in dry.tables
    ]
    assert sum(1 for _ in real.log.entries("note")) == notes
    real.close()
