"""Cross-learning: stored once in every subscriber's namespace, delivered at least once, across replicas."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.json_format import MessageToDict

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from cerebro.memory.v1 import semantic_pb2
from services.gateway.learning_delivery import semantic_memory_of, storage_request_id
from services.gateway.store.learnings import LearningRecord
from tests.gateway.harness import Mesh, bearer

Metadata = tuple[tuple[str, str], ...]


async def subscribed(mesh: Mesh, namespace: str, stream: grpc.aio.UnaryStreamCall) -> None:
    """Wait until ``stream`` has registered ``namespace``'s subscription."""
    connection = await mesh.admin()
    try:
        for _ in range(200):
            if await connection.fetchval(
                "SELECT EXISTS (SELECT 1 FROM gateway.learning_subscriptions WHERE namespace = $1)", namespace
            ):
                return
            assert not stream.done(), await stream.code()
            await asyncio.sleep(0.02)
    finally:
        await connection.close()
    pytest.fail(f"{namespace} never subscribed")


async def receive(stream: grpc.aio.UnaryStreamCall, timeout: float = 10.0) -> pb.SubscribeLearningsResponse:
    message = await asyncio.wait_for(stream.read(), timeout)
    assert message is not grpc.aio.EOF
    return message


async def nothing_more(stream: grpc.aio.UnaryStreamCall, wait: float = 1.5) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(stream.read(), wait)


async def semantic_memories(mesh: Mesh, namespace: str) -> list[semantic_pb2.SemanticMemory]:
    response = await mesh.memory.stub.ListSemanticMemories(memory_pb.ListSemanticMemoriesRequest(namespace=namespace))
    return list(response.semantic_memories)


async def test_learnings_reach_every_subscriber_once_across_reconnects_and_replicas(mesh: Mesh) -> None:
    suffix = uuid.uuid4().hex[:6]
    nexus_ns, aria_ns, ricardo_ns = f"nexus-{suffix}", f"aria-{suffix}", f"ricardo-{suffix}"
    nexus = bearer((await mesh.issue(nexus_ns)).token)
    aria = bearer((await mesh.issue(aria_ns)).token)
    ricardo = bearer((await mesh.issue(ricardo_ns)).token)
    a = mesh.gateway.stub

    async with mesh.another_gateway(f"replica-{suffix}") as replica:
        b = replica.stub
        aria_stream = a.SubscribeLearnings(pb.SubscribeLearningsRequest(), metadata=aria)
        ricardo_stream = b.SubscribeLearnings(pb.SubscribeLearningsRequest(), metadata=ricardo)
        await subscribed(mesh, aria_ns, aria_stream)
        await subscribed(mesh, ricardo_ns, ricardo_stream)

        first = pb.PublishLearningRequest(
            learning={
                "learning_id": str(uuid.uuid4()),
                "concept": "advisory locks",
                "definition": "serialise migrations across replicas",
                "relationships": {"related_concepts": ["migrations"]},
                "confidence": 0.8,
            }
        )
        published = await a.PublishLearning(first, metadata=nexus)
        assert published.learning.publisher == nexus_ns
        assert published.recipient_count >= 2  # also subscribers of earlier tests in this module

        for stream, namespace in ((aria_stream, aria_ns), (ricardo_stream, ricardo_ns)):
            delivered = await receive(stream)
            assert delivered.learning.learning_id == first.learning.learning_id
            assert delivered.learning.publisher == nexus_ns
            stored = await mesh.memory.stub.GetSemanticMemory(
                memory_pb.GetSemanticMemoryRequest(namespace=namespace, semantic_memory_id=delivered.semantic_memory_id)
            )
            assert stored.semantic_memory.concept == "advisory locks"
            assert MessageToDict(stored.semantic_memory.relationships)["learned_from"] == {
                "publisher": nexus_ns,
                "learning_id": first.learning.learning_id,
            }
        # The publisher does not receive its own learning.
        connection = await mesh.admin()
        try:
            assert not await connection.fetchval(
                "SELECT count(*) FROM gateway.learning_deliveries WHERE namespace = $1", nexus_ns
            )
        finally:
            await connection.close()

        acknowledged = await a.AcknowledgeLearnings(
            pb.AcknowledgeLearningsRequest(learning_ids=[first.learning.learning_id]), metadata=aria
        )
        assert acknowledged.acknowledged_count == 1
        aria_stream.cancel()

        # Published while ARIA is away; the first learning published again changes nothing.
        second = pb.PublishLearningRequest(learning={"learning_id": str(uuid.uuid4()), "concept": "token buckets"})
        await b.PublishLearning(second, metadata=nexus)
        repeated = await b.PublishLearning(first, metadata=nexus)
        assert repeated.recipient_count == published.recipient_count

        # ARIA reconnects, to the other replica: only what it has not acknowledged.
        aria_again = b.SubscribeLearnings(pb.SubscribeLearningsRequest(), metadata=aria)
        assert (await receive(aria_again)).learning.learning_id == second.learning.learning_id
        await nothing_more(aria_again)
        aria_again.cancel()
        # RICARDO stayed connected: each learning once on its stream.
        assert (await receive(ricardo_stream)).learning.learning_id == second.learning.learning_id
        await nothing_more(ricardo_stream)
        ricardo_stream.cancel()

    # RICARDO acknowledged nothing: a new stream (its replica is gone) delivers both again.
    ricardo_again = a.SubscribeLearnings(pb.SubscribeLearningsRequest(), metadata=ricardo)
    again = [(await receive(ricardo_again)).learning.learning_id for _ in range(2)]
    assert again == [first.learning.learning_id, second.learning.learning_id]
    ricardo_again.cancel()

    # Stored exactly once per receiver, whatever the deliveries.
    for namespace in (aria_ns, ricardo_ns):
        concepts = sorted(memory.concept for memory in await semantic_memories(mesh, namespace))
        assert concepts == ["advisory locks", "token buckets"]


async def test_a_learning_id_cannot_be_reused_for_other_content(mesh: Mesh, namespace: str) -> None:
    token = bearer((await mesh.issue(namespace)).token)
    learning_id = str(uuid.uuid4())
    await mesh.gateway.stub.PublishLearning(
        pb.PublishLearningRequest(learning={"learning_id": learning_id, "concept": "first"}), metadata=token
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.gateway.stub.PublishLearning(
            pb.PublishLearningRequest(learning={"learning_id": learning_id, "concept": "second"}), metadata=token
        )
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize(
    ("learning", "field"),
    [
        ({"concept": " "}, "learning.concept"),
        ({"concept": "x", "learning_id": "nope"}, "learning.learning_id"),
        ({"concept": "x", "confidence": 1.5}, "learning.confidence"),
        # The memory service would refuse it at every delivery: refused at publish instead.
        ({"concept": "x", "definition": " \n "}, "learning.definition"),
        ({"concept": "x", "relationships": {"learned_from": "me"}}, "learning.relationships.learned_from"),
    ],
)
async def test_bad_learnings_name_the_field(
    mesh: Mesh, namespace: str, learning: dict[str, object], field: str
) -> None:
    from google.protobuf.json_format import ParseDict

    from tests.gateway.harness import violated_fields

    token = bearer((await mesh.issue(namespace)).token)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.gateway.stub.PublishLearning(
            ParseDict({"learning": learning}, pb.PublishLearningRequest()), metadata=token
        )
    assert violated_fields(caught.value) == [field]


async def test_a_delivery_left_half_done_by_a_dead_replica_is_stored_once(mesh: Mesh, namespace: str) -> None:
    """A replica claimed a delivery and stored the memory, then died before marking it stored: once its
    lease has run out, a live replica reclaims the delivery, and storing it again returns the same memory."""
    token = bearer((await mesh.issue(namespace)).token)
    await mesh.gateway.stub.GetStats(pb.GetStatsRequest(), metadata=token)  # creates the namespace
    learning_id = uuid.uuid4()
    now = datetime.now(UTC)
    connection = await mesh.admin()
    try:
        await connection.execute(
            """INSERT INTO gateway.learnings
                   (learning_id, publisher, concept, definition, relationships, content_sha256)
               VALUES ($1, 'someone-else', 'leases', '', '{}', '\\x00')""",
            learning_id,
        )
        await connection.execute(
            """INSERT INTO gateway.learning_deliveries
                   (namespace, learning_id, state, attempts, claimed_at, locked_until, claimed_by, claim_token)
               VALUES ($1, $2, 'processing', 1, now(), now() + interval '1 second', 'a dead replica',
                       gen_random_uuid())""",
            namespace,
            learning_id,
        )
        half_done = await mesh.memory.stub.CreateSemanticMemory(
            memory_pb.CreateSemanticMemoryRequest(
                namespace=namespace,
                semantic_memory=semantic_memory_of(
                    LearningRecord(learning_id, "someone-else", "leases", "", {}, None, now)
                ),
                request_id=storage_request_id(learning_id, namespace),
            )
        )
        # Once the dead replica's lease has run out, a live replica stores the delivery.
        for _ in range(200):
            stored = await connection.fetchrow(
                """SELECT stored_at, semantic_memory_id, state, attempts, claim_token
                   FROM gateway.learning_deliveries WHERE learning_id = $1""",
                learning_id,
            )
            if stored["stored_at"] is not None:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the delivery was never stored")
    finally:
        await connection.close()
    assert str(stored["semantic_memory_id"]) == half_done.semantic_memory.semantic_memory_id
    # Done, by the second attempt (the dead replica's was the first), and no longer claimed by anyone.
    assert (stored["state"], stored["attempts"], stored["claim_token"]) == ("done", 2, None)
    assert [memory.concept for memory in await semantic_memories(mesh, namespace)] == ["leases"]
