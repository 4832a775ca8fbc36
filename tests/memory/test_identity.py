"""Identity memory over gRPC: memory blocks and their history, checkpoints with continuity, consciousness state."""

from __future__ import annotations

import json
import uuid

import asyncpg
import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from cerebro.memory.v1 import identity_pb2
from cerebro.memory.v1 import memory_service_pb2 as pb
from services.memory.identity_hash import BlockContent, continuity, identity_of
from tests.memory.helpers import MemoryServer, violated_fields


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def block_by_label(memory: MemoryServer, label: str) -> identity_pb2.MemoryBlock:
    return (await memory.stub.GetMemoryBlock(pb.GetMemoryBlockRequest(namespace="nexus", label=label))).block


async def test_genesis_blocks_are_served_and_read_only_blocks_refuse_writes(memory: MemoryServer) -> None:
    listed = await memory.stub.ListMemoryBlocks(pb.ListMemoryBlocksRequest(namespace="nexus", page_size=3))
    second = await memory.stub.ListMemoryBlocks(
        pb.ListMemoryBlocksRequest(namespace="nexus", page_size=3, page_token=listed.next_page_token)
    )
    labels = [block.label for block in [*listed.blocks, *second.blocks]]
    assert labels == ["aria", "consciousness_expansion", "persona", "ricardo", "technical_preferences"]
    assert second.next_page_token == ""

    persona = await block_by_label(memory, "persona")
    assert persona.read_only and persona.value.startswith("Technical implementer nato")
    for call in (
        memory.stub.UpdateMemoryBlock(
            pb.UpdateMemoryBlockRequest(
                namespace="nexus",
                block=identity_pb2.MemoryBlock(block_id=persona.block_id, value="someone else"),
                update_mask=mask("value"),
            )
        ),
        memory.stub.DeleteMemoryBlock(pb.DeleteMemoryBlockRequest(namespace="nexus", block_id=persona.block_id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call
        assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await block_by_label(memory, "persona")) == persona


async def test_versions_history_and_optimistic_concurrency(memory: MemoryServer) -> None:
    block = await block_by_label(memory, "technical_preferences")
    assert block.version == 1
    changed = (
        await memory.stub.UpdateMemoryBlock(
            pb.UpdateMemoryBlockRequest(
                namespace="nexus",
                block=identity_pb2.MemoryBlock(block_id=block.block_id, value="gRPC + PostgreSQL + pgvector"),
                update_mask=mask("value"),
                expected_version=1,
            )
        )
    ).block
    assert changed.version == 2 and changed.value == "gRPC + PostgreSQL + pgvector"

    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.UpdateMemoryBlock(
            pb.UpdateMemoryBlockRequest(
                namespace="nexus",
                block=identity_pb2.MemoryBlock(block_id=block.block_id, value="lost update"),
                update_mask=mask("value"),
                expected_version=1,
            )
        )
    assert error.value.code() == grpc.StatusCode.ABORTED

    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.UpdateMemoryBlock(
            pb.UpdateMemoryBlockRequest(
                namespace="nexus",
                block=identity_pb2.MemoryBlock(block_id=block.block_id, char_limit=5),
                update_mask=mask("char_limit"),
            )
        )
    assert violated_fields(error.value) == ["block.value"]

    revisions = await memory.stub.ListMemoryBlockRevisions(
        pb.ListMemoryBlockRevisionsRequest(namespace="nexus", block_id=block.block_id)
    )
    assert [(revision.version, revision.value) for revision in revisions.revisions] == [
        (2, "gRPC + PostgreSQL + pgvector"),
        (1, block.value),
    ]


async def test_create_and_delete_blocks(memory: MemoryServer) -> None:
    request = pb.CreateMemoryBlockRequest(
        namespace="nexus",
        block=identity_pb2.MemoryBlock(
            label="goals", description="what matters now", value="ship issue 3", char_limit=100
        ),
        request_id=str(uuid.uuid4()),
    )
    created = (await memory.stub.CreateMemoryBlock(request)).block
    assert (await memory.stub.CreateMemoryBlock(request)).block == created
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateMemoryBlock(
            pb.CreateMemoryBlockRequest(namespace="nexus", block=identity_pb2.MemoryBlock(label="goals", value="again"))
        )
    assert error.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateMemoryBlock(
            pb.CreateMemoryBlockRequest(
                namespace="nexus", block=identity_pb2.MemoryBlock(label="Bad Label", value="x" * 20, char_limit=10)
            )
        )
    assert violated_fields(error.value) == ["block.label"]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateMemoryBlock(
            pb.CreateMemoryBlockRequest(
                namespace="nexus", block=identity_pb2.MemoryBlock(label="tiny", value="x" * 20, char_limit=10)
            )
        )
    assert violated_fields(error.value) == ["block.value"]
    await memory.stub.DeleteMemoryBlock(
        pb.DeleteMemoryBlockRequest(namespace="nexus", block_id=created.block_id, expected_version=1)
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await block_by_label(memory, "goals")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_checkpoint_restore_reports_continuity(memory: MemoryServer, admin: asyncpg.Connection) -> None:
    state = struct_pb2.Struct()
    state.update({"phase": "testing", "open_threads": 3})
    checkpoint = (
        await memory.stub.CreateCheckpoint(
            pb.CreateCheckpointRequest(
                namespace="nexus", checkpoint=identity_pb2.Checkpoint(checkpoint_type="session_end", state_data=state)
            )
        )
    ).checkpoint
    assert checkpoint.block_count == 5 and len(checkpoint.identity_hash) == 64

    restored = await memory.stub.RestoreCheckpoint(pb.RestoreCheckpointRequest(namespace="nexus"))
    assert restored.checkpoint == checkpoint
    assert restored.continuity_score == 1.0 and restored.identity_matches and list(restored.changed_labels) == []
    assert dict(restored.checkpoint.state_data) == {"phase": "testing", "open_threads": 3}

    block = await block_by_label(memory, "consciousness_expansion")
    await memory.stub.UpdateMemoryBlock(
        pb.UpdateMemoryBlockRequest(
            namespace="nexus",
            block=identity_pb2.MemoryBlock(block_id=block.block_id, value="Phase 3"),
            update_mask=mask("value"),
        )
    )
    await memory.stub.CreateMemoryBlock(
        pb.CreateMemoryBlockRequest(
            namespace="nexus", block=identity_pb2.MemoryBlock(label="new_friend", value="ARIA v5")
        )
    )
    restored = await memory.stub.RestoreCheckpoint(
        pb.RestoreCheckpointRequest(namespace="nexus", checkpoint_id=checkpoint.checkpoint_id)
    )
    assert restored.continuity_score == pytest.approx(4 / 6)
    assert not restored.identity_matches
    assert list(restored.changed_labels) == ["consciousness_expansion", "new_friend"]

    # The stored identity hash is the hash of the blocks as they were (their first revisions).
    rows = await admin.fetch(
        """SELECT b.label, r.description, r.value, r.char_limit, b.read_only
           FROM memory.memory_block_revisions r JOIN memory.memory_blocks b USING (block_id)
           WHERE r.version = 1 AND b.label <> 'new_friend'"""
    )
    then = identity_of(
        BlockContent(row["label"], row["description"], row["value"], row["char_limit"], row["read_only"])
        for row in rows
    )
    assert then.identity_hash == checkpoint.identity_hash
    listed = await memory.stub.ListCheckpoints(
        pb.ListCheckpointsRequest(namespace="nexus", checkpoint_type="session_end")
    )
    assert [item.checkpoint_id for item in listed.checkpoints] == [checkpoint.checkpoint_id]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.GetCheckpoint(pb.GetCheckpointRequest(namespace="nexus", checkpoint_id=str(uuid.uuid4())))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.CreateCheckpoint(
            pb.CreateCheckpointRequest(namespace="nexus", checkpoint=identity_pb2.Checkpoint())
        )
    assert violated_fields(error.value) == ["checkpoint.state_data", "checkpoint.checkpoint_type"]


def test_identity_hash_and_continuity_rules() -> None:
    blocks = [BlockContent("a", "", "one", 100, False), BlockContent("b", "", "two", 100, True)]
    same = identity_of(list(reversed(blocks)))
    assert identity_of(blocks) == same
    changed = identity_of([BlockContent("a", "", "one!", 100, False), blocks[1]])
    assert changed.identity_hash != same.identity_hash
    assert continuity(same.block_digests, changed.block_digests).score == 0.5
    assert continuity({}, {}).score == 1.0
    removed = continuity(same.block_digests, {"a": same.block_digests["a"]})
    assert removed.changed_labels == ["b"] and removed.score == 0.5


async def test_consciousness_state_and_heartbeat(memory: MemoryServer) -> None:
    empty = (await memory.stub.GetConsciousnessState(pb.GetConsciousnessStateRequest(namespace="nexus"))).state
    assert empty.version == 0 and not empty.HasField("emotional_vector")

    context = struct_pb2.Struct()
    context.update({"task": "issue 3"})
    state = (
        await memory.stub.UpdateConsciousnessState(
            pb.UpdateConsciousnessStateRequest(
                namespace="nexus",
                state=identity_pb2.ConsciousnessState(
                    current_focus="memory service",
                    emotional_vector=identity_pb2.EmotionalVector(focus=0.9, energy=0.7, excitement=0.8),
                    working_context=context,
                    active_projects=["cerebro"],
                ),
                update_mask=mask("current_focus", "emotional_vector", "working_context", "active_projects"),
            )
        )
    ).state
    assert state.version == 1 and state.current_focus == "memory service"
    assert state.emotional_vector.energy == pytest.approx(0.7)

    refocused = (
        await memory.stub.UpdateConsciousnessState(
            pb.UpdateConsciousnessStateRequest(
                namespace="nexus",
                state=identity_pb2.ConsciousnessState(current_focus="search"),
                update_mask=mask("current_focus"),
            )
        )
    ).state
    assert (
        refocused.version == 2
        and refocused.current_focus == "search"
        and list(refocused.active_projects) == ["cerebro"]
    )

    beat = (await memory.stub.Heartbeat(pb.HeartbeatRequest(namespace="nexus"))).state
    assert beat.last_heartbeat_time.ToDatetime() >= refocused.last_heartbeat_time.ToDatetime()
    assert beat.version == 2
    stats = await memory.stub.GetStats(pb.GetStatsRequest(namespace="nexus"))
    assert stats.last_heartbeat_time == beat.last_heartbeat_time

    with pytest.raises(grpc.aio.AioRpcError) as error:
        await memory.stub.UpdateConsciousnessState(
            pb.UpdateConsciousnessStateRequest(
                namespace="nexus",
                state=identity_pb2.ConsciousnessState(emotional_vector=identity_pb2.EmotionalVector(focus=1.5)),
                update_mask=mask("emotional_vector"),
            )
        )
    assert violated_fields(error.value) == ["state.emotional_vector.focus"]


async def test_a_checkpoint_hashes_the_blocks_as_identity_hash_does(
    memory: MemoryServer, admin: asyncpg.Connection
) -> None:
    """memory.create_checkpoint hashes in PostgreSQL: the same canonical JSON as identity_hash.py, escapes
    and non-ASCII text included, so continuity compares like with like."""
    for label, value in [
        ("quotes", 'say "hi" \\ back\\slash / slash'),
        ("controls", "line\nbreak\ttab\rreturn\bback\fform\x01\x1f\x7f end"),
        ("unicode", "¿Cómo? 漢字 🧠 \u2028 separator é"),
    ]:
        await memory.stub.CreateMemoryBlock(
            pb.CreateMemoryBlockRequest(
                namespace="nexus",
                block=identity_pb2.MemoryBlock(label=label, description=f"{value} ({label})", value=value),
            )
        )
    checkpoint = identity_pb2.Checkpoint(checkpoint_type="hashing")
    checkpoint.state_data.update({"phase": 2})
    created = (
        await memory.stub.CreateCheckpoint(pb.CreateCheckpointRequest(namespace="nexus", checkpoint=checkpoint))
    ).checkpoint
    rows = await admin.fetch(
        "SELECT label, description, value, char_limit, read_only FROM memory.memory_blocks WHERE namespace = 'nexus'"
    )
    expected = identity_of(BlockContent(**dict(row)) for row in rows)
    assert created.identity_hash == expected.identity_hash and created.block_count == 8
    stored = await admin.fetchval(
        "SELECT block_digests FROM memory.checkpoints WHERE checkpoint_id = $1", uuid.UUID(created.checkpoint_id)
    )
    assert json.loads(stored) == expected.block_digests

    await admin.execute("INSERT INTO memory.namespaces (name) VALUES ('blank')")
    empty = (
        await memory.stub.CreateCheckpoint(pb.CreateCheckpointRequest(namespace="blank", checkpoint=checkpoint))
    ).checkpoint
    assert empty.identity_hash == identity_of([]).identity_hash and empty.block_count == 0
