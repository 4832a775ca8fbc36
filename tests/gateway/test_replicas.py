"""The replica pool: balancing, region preference, failover of idempotent calls only."""

from __future__ import annotations

import grpc
import pytest

from services.gateway.call import Deadline
from services.gateway.downstream import rename_field
from services.gateway.replicas import ReplicaPool


class FakeStub:
    def __init__(self, channel: object) -> None:
        self.channel = channel


def failure(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="down")


@pytest.fixture
async def pool() -> ReplicaPool[FakeStub]:
    replicas = ReplicaPool("memory", FakeStub, "static:1", None, "eu-west", health_service=None)
    replicas.set_replicas({"a:1": "eu-west", "b:1": "eu-west", "far:1": "us-east"})
    yield replicas
    await replicas.close()


async def test_calls_stay_in_the_preferred_region_and_take_turns(pool: ReplicaPool[FakeStub]) -> None:
    chosen = [pool.choose().target for _ in range(4)]
    assert sorted(set(chosen)) == ["a:1", "b:1"]
    assert chosen[0] != chosen[1]


async def test_the_least_busy_replica_is_chosen(pool: ReplicaPool[FakeStub]) -> None:
    busy = {replica.target: replica for replica in pool.replicas}
    busy["a:1"].in_flight = 3
    assert {pool.choose().target for _ in range(3)} == {"b:1"}


async def test_idempotent_calls_fail_over_and_the_failed_replica_rests(pool: ReplicaPool[FakeStub]) -> None:
    attempts: list[str] = []

    async def invoke(stub: FakeStub, timeout: float) -> str:
        target = next(r.target for r in pool.replicas if r.stub is stub)
        attempts.append(target)
        if target == "a:1":
            raise failure(grpc.StatusCode.UNAVAILABLE)
        return target

    deadline = Deadline.after(5.0, 5.0)
    results = [await pool.call(invoke, deadline, idempotent=True) for _ in range(4)]
    assert results == ["b:1"] * 4
    assert attempts.count("a:1") == 1  # set aside after its failure


async def test_a_non_idempotent_call_is_not_tried_again(pool: ReplicaPool[FakeStub]) -> None:
    attempts = 0

    async def invoke(stub: FakeStub, timeout: float) -> None:
        nonlocal attempts
        attempts += 1
        raise failure(grpc.StatusCode.UNAVAILABLE)

    with pytest.raises(grpc.aio.AioRpcError):
        await pool.call(invoke, Deadline.after(5.0, 5.0), idempotent=False)
    assert attempts == 1


async def test_other_errors_are_not_retried(pool: ReplicaPool[FakeStub]) -> None:
    attempts = 0

    async def invoke(stub: FakeStub, timeout: float) -> None:
        nonlocal attempts
        attempts += 1
        raise failure(grpc.StatusCode.NOT_FOUND)

    with pytest.raises(grpc.aio.AioRpcError):
        await pool.call(invoke, Deadline.after(5.0, 5.0), idempotent=True)
    assert attempts == 1


async def test_without_discovered_replicas_the_static_target_serves(pool: ReplicaPool[FakeStub]) -> None:
    pool.set_replicas({})
    assert [replica.target for replica in pool.replicas] == ["static:1"]


def test_downstream_field_paths_are_renamed_by_longest_prefix() -> None:
    fields = {"episode": "", "episode.content": "action_details", "request_id": "request_id"}
    assert rename_field("episode.tags[2]", fields) == "tags[2]"
    assert rename_field("episode.content", fields) == "action_details"
    assert rename_field("episode_id", fields) == "episode_id"
    assert rename_field("query", {}) == "query"
