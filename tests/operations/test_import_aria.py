"""`cerebro import` of an ARIA v4 database (document 004): agents, derived ids, dropped 1536-d vectors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from services.operations.importer.aria import episode_uuid
from services.operations.importer.namespaces import NamespaceMappingError
from services.operations.importer.run import ImportOptions, run_import
from tests.operations.legacy_data import CLEAN_TAGS, LONG_TEXT, AriaSource, fill_aria
from tests.operations.support import assert_report_matches, table_fingerprints


async def _aria_source(databases: Callable[[], Awaitable[str]]) -> tuple[str, AriaSource]:
    url = await databases()
    connection = await asyncpg.connect(url)
    try:
        return url, await fill_aria(connection)
    finally:
        await connection.close()


async def test_agents_land_in_their_namespaces_with_derived_ids(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, cerebro: asyncpg.Connection
) -> None:
    source_url, source = await _aria_source(databases)
    report = await run_import(source_url, cerebro_url, ImportOptions(batch_size=64))
    assert_report_matches(report, source.expected)
    assert report.namespaces == source.agents
    assert report.created_namespaces == ["aria", "ricardo_n"]  # `nexus` exists from the migrations
    assert {t.source: t.vectors_dropped for t in report.tables}["memory_system.semantic_memory"] == source.vectors
    report.close()

    old = await asyncpg.connect(source_url)
    try:
        old_episodes = await old.fetch("SELECT * FROM memory_system.episodes")
    finally:
        await old.close()
    episodes = {row["episode_id"]: row for row in await cerebro.fetch("SELECT * FROM memory.episodes")}
    imported = set(source.expected.arrive["memory_system.episodes"])
    assert len(episodes) == len(imported)
    for old_row in old_episodes:
        if old_row["id"] not in imported:
            continue
        new_row = episodes[episode_uuid(old_row["agent_id"], old_row["episode_id"], old_row["id"])]
        assert new_row["namespace"] == source.agents[old_row["agent_id"]]
        assert new_row["occurred_at"] == new_row["created_at"] == old_row["timestamp"]
        marker = json.loads(new_row["metadata"])["imported_from"]
        assert (marker["id"], marker["episode_id"]) == (old_row["id"], old_row["episode_id"])
        assert json.loads(new_row["metadata"])["action_type"] == old_row["action_type"]

    by_serial = {json.loads(row["metadata"])["imported_from"]["id"]: row for row in episodes.values()}
    long_row = by_serial[source.long_serial]
    assert long_row["content"] == LONG_TEXT[:12_000] and long_row["tags"] == CLEAN_TAGS
    long_metadata = json.loads(long_row["metadata"])
    assert long_metadata["action_details"]["mood"] == "calma" and long_metadata["consolidated"] is True
    assert long_metadata["context_state"] == {"emotion": "focus"}
    assert by_serial[source.json_serial]["content"] == 'code_change: {"files": ["a.py"], "lines": 42}'
    assert by_serial[source.type_only_serial]["content"] == "heartbeat"
    assert by_serial[source.type_only_serial]["importance"] == 0.5
    assert uuid.UUID(str(source.uuid_episode_id)) in episodes  # an episode_id that is a UUID is kept
    assert by_serial[source.null_episode_id_serial]["namespace"] == "ricardo_n"

    semantic = await cerebro.fetch("SELECT * FROM memory.semantic_memories ORDER BY concept")
    assert [(row["concept"], row["namespace"]) for row in semantic] == [("Neural Mesh", "aria"), ("Ricardo", "aria")]
    assert await cerebro.fetchval("SELECT count(*) FROM memory.semantic_memory_vectors") == 0
    assert json.loads(semantic[0]["relationships"]) == {"knowledge_type": "technical"}
    working = {row["namespace"]: row for row in await cerebro.fetch("SELECT * FROM memory.working_memory")}
    assert json.loads(working["aria"]["content"]) == {
        "session_id": "s-1",
        "data": {"task": "migrar"},
        "tags": ["", "x"],
    }
    assert working["aria"]["context_type"] == "current_task"
    assert working["nexus"]["ttl_seconds"] == 30 * 86400  # no expiry in ARIA: the longest allowed


async def test_import_is_idempotent_and_dry_run_writes_nothing(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, cerebro: asyncpg.Connection
) -> None:
    source_url, source = await _aria_source(databases)
    untouched = await table_fingerprints(cerebro)
    dry = await run_import(source_url, cerebro_url, ImportOptions(dry_run=True))
    assert_report_matches(dry, source.expected)
    assert dry.created_namespaces == ["aria", "ricardo_n"]
    dry.close()
    assert await table_fingerprints(cerebro) == untouched

    (await run_import(source_url, cerebro_url, ImportOptions())).close()
    imported = await table_fingerprints(cerebro)
    again = await run_import(source_url, cerebro_url, ImportOptions(batch_size=7))
    assert_report_matches(again, source.expected, present=True)
    assert again.created_namespaces == []
    again.close()
    assert await table_fingerprints(cerebro) == imported


async def test_agents_that_would_merge_need_an_explicit_map(
    databases: Callable[[], Awaitable[str]], cerebro_url: str, cerebro: asyncpg.Connection
) -> None:
    source_url, _ = await _aria_source(databases)
    old = await asyncpg.connect(source_url)
    try:
        await old.execute("UPDATE memory_system.episodes SET agent_id = 'ARIA ' WHERE id % 2 = 0 AND agent_id = 'aria'")
        await old.execute("UPDATE memory_system.episodes SET agent_id = '日本' WHERE id = 1")
    finally:
        await old.close()
    before = await table_fingerprints(cerebro)
    with pytest.raises(NamespaceMappingError) as refused:
        await run_import(source_url, cerebro_url, ImportOptions())
    message = str(refused.value)
    assert "'ARIA ', 'aria' would all land in namespace 'aria'" in message
    assert "'日本' has no character usable" in message
    assert await table_fingerprints(cerebro) == before

    mapping = {"ARIA ": "aria", "日本": "nihon"}
    report = await run_import(source_url, cerebro_url, ImportOptions(namespace_map=mapping))
    report.close()
    assert report.namespaces["ARIA "] == "aria" and report.namespaces["日本"] == "nihon"
    assert await cerebro.fetchval("SELECT count(*) FROM memory.episodes WHERE namespace = 'nihon'") == 1
    assert await cerebro.fetchval("SELECT display_name FROM memory.namespaces WHERE name = 'nihon'") == "日本"
