"""The task inbox: delivery to the assignee across replicas and reconnects, the state machine, who may do
what, and redistribution when the assignee lapses. Real gateways, consensus and PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2

from cerebro.consensus.client import deregister_request, heartbeat_request
from cerebro.embedded import EmbeddedStack
from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import gateway_pb2_grpc
from cerebro.gateway.v1 import resources_pb2 as rpb
from services.gateway.store.credentials import Scope
from tests.consensus.harness import Member, register
from tests.gateway.harness import Mesh, Metadata, bearer, running_mesh, temporary_database, violated_fields
from tests.support import eventually

FAST = {"CEREBRO_GATEWAY_TASK_POLL_SECONDS": "0.2"}


@dataclass
class Replicas:
    mesh: Mesh
    first: gateway_pb2_grpc.AgentGatewayStub
    second: gateway_pb2_grpc.AgentGatewayStub
    # A replica whose assignees must acknowledge within a second.
    impatient: gateway_pb2_grpc.AgentGatewayStub


@pytest.fixture(scope="module")
async def replicas(embedded_stack: EmbeddedStack) -> AsyncIterator[Replicas]:
    """Three gateway replicas on one database, consensus and memory service."""
    data_dir = Path(tempfile.mkdtemp(prefix="cerebro-task-inbox-test-"))
    try:
        async with (
            temporary_database(embedded_stack) as database_url,
            running_mesh(database_url, data_dir, gateway_env=FAST) as mesh,
            mesh.another_gateway("second", FAST) as second,
            mesh.another_gateway("impatient", {**FAST, "CEREBRO_GATEWAY_TASK_ACKNOWLEDGE_SECONDS": "1"}) as impatient,
        ):
            yield Replicas(mesh, mesh.gateway.stub, second.stub, impatient.stub)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Agent:
    member: Member
    token: Metadata

    @property
    def name(self) -> str:
        return self.member.name


async def agent(mesh: Mesh, capability: str, *, region: str = "local") -> Agent:
    """A registered agent instance with a key bound to it."""
    member = await register(mesh.consensus, f"agent-{uuid.uuid4().hex[:8]}", capabilities=[capability], region=region)
    key = await mesh.issue(f"ns-{member.name}", instance_name=member.name)
    return Agent(member, bearer(key.token))


async def distributor(mesh: Mesh) -> Metadata:
    return bearer((await mesh.issue(f"distributor-{uuid.uuid4().hex[:8]}")).token)


async def distribute(stub: gateway_pb2_grpc.AgentGatewayStub, token: Metadata, capability: str, what: str) -> str:
    request = pb.DistributeTaskRequest(description=what, required_capabilities=[capability])
    return (await stub.DistributeTask(request, metadata=token)).assignment.task_id


async def get(stub: gateway_pb2_grpc.AgentGatewayStub, token: Metadata, task_id: str) -> rpb.Task:
    return (await stub.GetTask(pb.GetTaskRequest(task_id=task_id), metadata=token)).task


async def next_task(stream: grpc.aio.UnaryStreamCall) -> pb.WatchTasksResponse:
    message = await asyncio.wait_for(stream.read(), 15)
    assert message is not grpc.aio.EOF
    return message  # type: ignore[no-any-return]


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


def result(**values: object) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


async def test_the_assignee_receives_its_task_on_another_replica_and_works_it_through(replicas: Replicas) -> None:
    skill = f"skill-{uuid.uuid4().hex[:6]}"
    worker = await agent(replicas.mesh, skill)
    boss = await distributor(replicas.mesh)
    inbox = replicas.second.WatchTasks(pb.WatchTasksRequest(), metadata=worker.token)
    task_id = await distribute(replicas.first, boss, skill, "index the archive")

    delivered = await next_task(inbox)
    assert delivered.task.task_id == task_id
    assert delivered.task.state == rpb.TASK_STATE_ASSIGNED
    assert delivered.task.assignment.instance.instance_name == worker.name
    assert delivered.task.description == "index the archive"
    assert delivered.task.HasField("acknowledge_deadline")
    assert delivered.cursor > 0
    inbox.cancel()

    watch = replicas.first.WatchTasks(pb.WatchTasksRequest(task_id=task_id), metadata=boss)
    assert (await next_task(watch)).task.state == rpb.TASK_STATE_ASSIGNED

    # Completing, failing or reporting progress needs an acknowledgement first.
    for premature in (
        replicas.second.CompleteTask(pb.CompleteTaskRequest(task_id=task_id), metadata=worker.token),
        replicas.second.FailTask(pb.FailTaskRequest(task_id=task_id, error_message="no"), metadata=worker.token),
        replicas.second.ReportTaskProgress(
            pb.ReportTaskProgressRequest(task_id=task_id, progress=0.1), metadata=worker.token
        ),
    ):
        assert (await refused(premature)).code() == grpc.StatusCode.FAILED_PRECONDITION

    acknowledged = (
        await replicas.second.AcknowledgeTask(pb.AcknowledgeTaskRequest(task_id=task_id), metadata=worker.token)
    ).task
    assert acknowledged.state == rpb.TASK_STATE_ACKNOWLEDGED
    assert not acknowledged.HasField("acknowledge_deadline")
    again = (
        await replicas.first.AcknowledgeTask(pb.AcknowledgeTaskRequest(task_id=task_id), metadata=worker.token)
    ).task
    assert again.version == acknowledged.version  # a retried acknowledgement changes nothing

    progressed = (
        await replicas.second.ReportTaskProgress(
            pb.ReportTaskProgressRequest(task_id=task_id, progress=0.5, status_message="halfway"), metadata=worker.token
        )
    ).task
    assert progressed.progress == pytest.approx(0.5)
    assert progressed.status_message == "halfway"

    done = (
        await replicas.second.CompleteTask(
            pb.CompleteTaskRequest(task_id=task_id, result=result(indexed=42)), metadata=worker.token
        )
    ).task
    assert done.state == rpb.TASK_STATE_SUCCEEDED
    assert done.result["indexed"] == 42
    repeated = (
        await replicas.first.CompleteTask(
            pb.CompleteTaskRequest(task_id=task_id, result=result(indexed=42)), metadata=worker.token
        )
    ).task
    assert repeated.version == done.version
    for late in (
        replicas.first.CompleteTask(
            pb.CompleteTaskRequest(task_id=task_id, result=result(indexed=1)), metadata=worker.token
        ),
        replicas.first.FailTask(pb.FailTaskRequest(task_id=task_id, error_message="too late"), metadata=worker.token),
        replicas.first.AcknowledgeTask(pb.AcknowledgeTaskRequest(task_id=task_id), metadata=worker.token),
        replicas.first.ReportTaskProgress(pb.ReportTaskProgressRequest(task_id=task_id), metadata=worker.token),
    ):
        assert (await refused(late)).code() == grpc.StatusCode.FAILED_PRECONDITION

    # The distributor's watch saw the changes and ends with the task.
    seen = []
    while (message := await asyncio.wait_for(watch.read(), 15)) != grpc.aio.EOF:
        seen.append(message.task)
    assert seen[-1].state == rpb.TASK_STATE_SUCCEEDED
    assert [task.version for task in seen] == sorted({task.version for task in seen})
    assert (await get(replicas.first, boss, task_id)).result["indexed"] == 42

    # A failed task carries why.
    failing_id = await distribute(replicas.second, boss, skill, "parse the impossible")
    await replicas.first.AcknowledgeTask(pb.AcknowledgeTaskRequest(task_id=failing_id), metadata=worker.token)
    failed = (
        await replicas.first.FailTask(
            pb.FailTaskRequest(task_id=failing_id, error_message="unparseable", result=result(line=7)),
            metadata=worker.token,
        )
    ).task
    assert (failed.state, failed.error_message, failed.result["line"]) == (rpb.TASK_STATE_FAILED, "unparseable", 7)


async def test_unacknowledged_tasks_come_again_on_reconnect_and_acknowledged_ones_never(replicas: Replicas) -> None:
    skill = f"skill-{uuid.uuid4().hex[:6]}"
    worker = await agent(replicas.mesh, skill)
    boss = await distributor(replicas.mesh)
    first_id = await distribute(replicas.first, boss, skill, "first")
    second_id = await distribute(replicas.second, boss, skill, "second")

    stream = replicas.first.WatchTasks(pb.WatchTasksRequest(), metadata=worker.token)
    one, two = await next_task(stream), await next_task(stream)
    assert [one.task.task_id, two.task.task_id] == [first_id, second_id]
    assert one.cursor < two.cursor
    stream.cancel()

    # Resuming from a cursor skips what was received up to it: the next task after the second is a new one.
    resumed = replicas.second.WatchTasks(pb.WatchTasksRequest(after_cursor=two.cursor), metadata=worker.token)
    third_id = await distribute(replicas.first, boss, skill, "third")
    assert (await next_task(resumed)).task.task_id == third_id
    resumed.cancel()

    # A new stream without a cursor (an agent restarted) gets every unacknowledged task again, in order.
    fresh = replicas.second.WatchTasks(pb.WatchTasksRequest(), metadata=worker.token)
    assert [(await next_task(fresh)).task.task_id for _ in range(3)] == [first_id, second_id, third_id]
    fresh.cancel()

    for task_id in (first_id, third_id):
        await replicas.first.AcknowledgeTask(pb.AcknowledgeTaskRequest(task_id=task_id), metadata=worker.token)
    after_ack = replicas.first.WatchTasks(pb.WatchTasksRequest(), metadata=worker.token)
    assert (await next_task(after_ack)).task.task_id == second_id
    fourth_id = await distribute(replicas.second, boss, skill, "fourth")
    assert (await next_task(after_ack)).task.task_id == fourth_id  # nothing acknowledged came in between
    after_ack.cancel()

    listed = await replicas.first.ListTasks(
        pb.ListTasksRequest(states=[rpb.TASK_STATE_ASSIGNED]), metadata=worker.token
    )
    assert [task.task_id for task in listed.tasks] == [fourth_id, second_id]
    mine = await replicas.second.ListTasks(pb.ListTasksRequest(distributed=True, page_size=3), metadata=boss)
    assert [task.task_id for task in mine.tasks] == [fourth_id, third_id, second_id]
    rest = await replicas.second.ListTasks(
        pb.ListTasksRequest(distributed=True, page_size=3, page_token=mine.next_page_token), metadata=boss
    )
    assert [task.task_id for task in rest.tasks] == [first_id]
    assert not rest.next_page_token


async def test_an_assignee_that_does_not_acknowledge_in_time_lapses_and_another_gets_the_task(
    replicas: Replicas,
) -> None:
    skill = f"skill-{uuid.uuid4().hex[:6]}"
    agents = {a.name: a for a in [await agent(replicas.mesh, skill), await agent(replicas.mesh, skill)]}
    boss = await distributor(replicas.mesh)
    request = pb.DistributeTaskRequest(description="answer quickly", required_capabilities=[skill])
    assignment = (await replicas.impatient.DistributeTask(request, metadata=boss)).assignment
    task_id, first = assignment.task_id, assignment.instance.instance_name
    other = agents[next(name for name in agents if name != first)]

    async def reassigned() -> bool:
        task = await get(replicas.first, boss, task_id)
        return task.assignment.instance.instance_name == other.name and task.state == rpb.TASK_STATE_ASSIGNED

    await eventually(reassigned, timeout=30)
    inbox = replicas.second.WatchTasks(pb.WatchTasksRequest(), metadata=other.token)
    received = await next_task(inbox)
    inbox.cancel()
    assert received.task.task_id == task_id
    assert received.task.assignment_count >= 2
    assert "lapsed (it did not acknowledge by the deadline)" in received.task.assignment.reason

    async def acknowledged() -> bool:
        try:
            await replicas.first.AcknowledgeTask(pb.AcknowledgeTaskRequest(task_id=task_id), metadata=other.token)
        except grpc.aio.AioRpcError:
            return False  # lapsed again meanwhile (a one-second deadline); it comes back
        return True

    await eventually(acknowledged, timeout=30, interval=0.01)
    # The lapsed assignee is no longer the assignee.
    late = await refused(
        replicas.first.AcknowledgeTask(pb.AcknowledgeTaskRequest(task_id=task_id), metadata=agents[first].token)
    )
    assert late.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_an_assignee_that_leaves_the_network_lapses_and_the_task_waits_for_an_eligible_one(
    replicas: Replicas,
) -> None:
    mesh = replicas.mesh
    skill = f"skill-{uuid.uuid4().hex[:6]}"
    worker = await agent(mesh, skill)
    boss = await distributor(mesh)
    task_id = await distribute(replicas.first, boss, skill, "outlive me")
    await replicas.second.AcknowledgeTask(pb.AcknowledgeTaskRequest(task_id=task_id), metadata=worker.token)
    await replicas.second.ReportTaskProgress(
        pb.ReportTaskProgressRequest(task_id=task_id, progress=0.3, status_message="3 of 10 shards"),
        metadata=worker.token,
    )
    await mesh.consensus.stub.DeregisterInstance(deregister_request(worker.member.key, worker.member.instance_id))

    async def state_is(state: int) -> bool:
        return (await get(replicas.first, boss, task_id)).state == state

    # No other instance has the skill: the task waits, showing where the work stood.
    await eventually(lambda: state_is(rpb.TASK_STATE_PENDING), timeout=30)
    pending = await get(replicas.second, boss, task_id)
    assert pending.progress == pytest.approx(0.3) and pending.status_message == "3 of 10 shards"
    refusal = await refused(replicas.first.CompleteTask(pb.CompleteTaskRequest(task_id=task_id), metadata=worker.token))
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION

    successor = await agent(mesh, skill)
    await eventually(lambda: state_is(rpb.TASK_STATE_ASSIGNED), timeout=30)
    task = await get(replicas.second, boss, task_id)
    assert task.assignment.instance.instance_name == successor.name
    assert task.assignment_count == 2
    inbox = replicas.first.WatchTasks(pb.WatchTasksRequest(), metadata=successor.token)
    delivered = (await next_task(inbox)).task
    inbox.cancel()
    # The successor is told where its predecessor stopped, and reports its own progress from there.
    assert delivered.task_id == task_id
    assert delivered.progress == pytest.approx(0.3) and delivered.status_message == "3 of 10 shards"
    await replicas.second.AcknowledgeTask(pb.AcknowledgeTaskRequest(task_id=task_id), metadata=successor.token)
    resumed = (
        await replicas.first.ReportTaskProgress(
            pb.ReportTaskProgressRequest(task_id=task_id, progress=0.4, status_message="4 of 10 shards"),
            metadata=successor.token,
        )
    ).task
    assert resumed.progress == pytest.approx(0.4) and resumed.status_message == "4 of 10 shards"


async def test_only_the_distributor_and_the_assignee_read_and_only_the_assignee_acts(replicas: Replicas) -> None:
    mesh = replicas.mesh
    skill = f"skill-{uuid.uuid4().hex[:6]}"
    worker = await agent(mesh, skill)
    stranger = await agent(mesh, f"other-{skill}")
    boss = await distributor(mesh)
    read_only = bearer((await mesh.issue(f"ro-{worker.name}", instance_name=worker.name, scope=Scope.READ_ONLY)).token)
    task_id = await distribute(replicas.first, boss, skill, "private work")
    stub = replicas.second

    assert (await get(stub, worker.token, task_id)).task_id == task_id
    assert (await get(stub, boss, task_id)).task_id == task_id
    assert (await refused(stub.GetTask(pb.GetTaskRequest(task_id=task_id), metadata=stranger.token))).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    watch = stub.WatchTasks(pb.WatchTasksRequest(task_id=task_id), metadata=stranger.token)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(watch.read(), 15)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    acknowledge = pb.AcknowledgeTaskRequest(task_id=task_id)
    for token in (stranger.token, boss, read_only):
        assert (await refused(stub.AcknowledgeTask(acknowledge, metadata=token))).code() == (
            grpc.StatusCode.PERMISSION_DENIED
        )
    # A credential bound to no instance has no inbox.
    unbound_inbox = stub.WatchTasks(pb.WatchTasksRequest(), metadata=boss)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(unbound_inbox.read(), 15)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await get(stub, boss, task_id)).state == rpb.TASK_STATE_ASSIGNED  # nothing refused changed it

    missing = await refused(stub.GetTask(pb.GetTaskRequest(task_id=str(uuid.uuid4())), metadata=boss))
    assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_bad_input_names_the_field(replicas: Replicas) -> None:
    skill = f"skill-{uuid.uuid4().hex[:6]}"
    worker = await agent(replicas.mesh, skill)
    stub = replicas.first
    token = worker.token
    cases = [
        (stub.GetTask(pb.GetTaskRequest(task_id="nope"), metadata=token), ["task_id"]),
        (stub.AcknowledgeTask(pb.AcknowledgeTaskRequest(), metadata=token), ["task_id"]),
        (
            stub.ReportTaskProgress(
                pb.ReportTaskProgressRequest(task_id=str(uuid.uuid4()), progress=1.5, status_message="x" * 1001),
                metadata=token,
            ),
            ["progress", "status_message"],
        ),
        (
            stub.FailTask(pb.FailTaskRequest(task_id=str(uuid.uuid4()), error_message="  "), metadata=token),
            ["error_message"],
        ),
        (stub.ListTasks(pb.ListTasksRequest(states=[rpb.TASK_STATE_ASSIGNED, 99]), metadata=token), ["states[1]"]),
        (stub.ListTasks(pb.ListTasksRequest(page_token="garbage"), metadata=token), ["page_token"]),
    ]
    for call, fields in cases:
        assert violated_fields(await refused(call)) == fields
    for request in (
        pb.WatchTasksRequest(after_cursor=-1),
        pb.WatchTasksRequest(task_id=str(uuid.uuid4()), after_cursor=3),
    ):
        stream = stub.WatchTasks(request, metadata=token)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await asyncio.wait_for(stream.read(), 15)
        assert violated_fields(caught.value) == ["after_cursor"]


@pytest.fixture(scope="module")
async def short_leases(embedded_stack: EmbeddedStack) -> AsyncIterator[Mesh]:
    """A mesh whose instance leases last two seconds unless renewed."""
    data_dir = Path(tempfile.mkdtemp(prefix="cerebro-task-lease-test-"))
    leases = {"CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": "2", "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": "4"}
    try:
        async with (
            temporary_database(embedded_stack) as database_url,
            running_mesh(database_url, data_dir, gateway_env=FAST, consensus_env=leases) as mesh,
        ):
            yield mesh
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_an_assignee_whose_lease_expires_lapses_even_after_acknowledging(short_leases: Mesh) -> None:
    mesh, stub = short_leases, short_leases.gateway.stub
    skill = f"skill-{uuid.uuid4().hex[:6]}"
    agents = {a.name: a for a in [await agent(mesh, skill), await agent(mesh, skill)]}
    renewed = set(agents)

    async def renew_leases() -> None:
        while True:
            for name in list(renewed):
                member = agents[name].member
                await mesh.consensus.stub.Heartbeat(heartbeat_request(member.key, member.instance_id))
            await asyncio.sleep(0.3)

    renewing = asyncio.create_task(renew_leases())
    try:
        boss = await distributor(mesh)
        task_id = await distribute(stub, boss, skill, "survive a crash")
        assignee = agents[(await get(stub, boss, task_id)).assignment.instance.instance_name]
        await stub.AcknowledgeTask(pb.AcknowledgeTaskRequest(task_id=task_id), metadata=assignee.token)
        # The assignee stops renewing its lease, as a crashed agent would.
        renewed.discard(assignee.name)

        async def moved() -> bool:
            return (await get(stub, boss, task_id)).assignment.instance.instance_name != assignee.name

        await eventually(moved, timeout=30)
        task = await get(stub, boss, task_id)
        assert task.state == rpb.TASK_STATE_ASSIGNED
        assert "lapsed (its instance is no longer active)" in task.assignment.reason
        successor = agents[task.assignment.instance.instance_name]
        inbox = stub.WatchTasks(pb.WatchTasksRequest(), metadata=successor.token)
        assert (await next_task(inbox)).task.task_id == task_id
        inbox.cancel()
    finally:
        renewing.cancel()


async def test_a_failed_task_goes_to_an_instance_that_has_not_failed_it_and_ends_when_none_is_left(
    replicas: Replicas,
) -> None:
    boss, task_id, first, second = await acknowledged_by_one_of_two(replicas, "page the on-call engineer")
    await replicas.second.ReportTaskProgress(
        pb.ReportTaskProgressRequest(task_id=task_id, progress=0.2, status_message="found the rota"),
        metadata=first.token,
    )
    failure = pb.FailTaskRequest(task_id=task_id, error_message="no pager here", result=result(tried=["sms"]))
    handed_on = (await replicas.first.FailTask(failure, metadata=first.token)).task
    assert handed_on.state == rpb.TASK_STATE_ASSIGNED
    assert handed_on.assignment.instance.instance_name == second.name
    assert handed_on.assignment_count == 2
    assert f"{first.name} failed it (no pager here)" in handed_on.assignment.reason
    assert (handed_on.error_message, list(handed_on.result["tried"])) == ("no pager here", ["sms"])
    assert handed_on.progress == pytest.approx(0.2) and handed_on.status_message == "found the rota"

    # The other instance receives it on another replica; the one that failed it may no longer act on it,
    # but its retried FailTask is answered with the task as it now is.
    inbox = replicas.second.WatchTasks(pb.WatchTasksRequest(), metadata=second.token)
    assert (await next_task(inbox)).task.task_id == task_id
    inbox.cancel()
    retried = (await replicas.second.FailTask(failure, metadata=first.token)).task
    assert (retried.state, retried.version) == (rpb.TASK_STATE_ASSIGNED, handed_on.version)
    refusal = await refused(replicas.first.CompleteTask(pb.CompleteTaskRequest(task_id=task_id), metadata=first.token))
    assert refusal.code() == grpc.StatusCode.PERMISSION_DENIED

    # The last eligible instance fails it too: the task ends, with that failure's reason.
    await replicas.first.AcknowledgeTask(pb.AcknowledgeTaskRequest(task_id=task_id), metadata=second.token)
    ended = (
        await replicas.second.FailTask(
            pb.FailTaskRequest(task_id=task_id, error_message="pager broken"), metadata=second.token
        )
    ).task
    assert (ended.state, ended.error_message, ended.assignment_count) == (rpb.TASK_STATE_FAILED, "pager broken", 2)
    assert (await get(replicas.first, boss, task_id)).state == rpb.TASK_STATE_FAILED


async def test_a_task_that_lapses_after_a_failure_never_goes_back_to_the_instance_that_failed_it(
    replicas: Replicas,
) -> None:
    boss, task_id, failing, _ = await acknowledged_by_one_of_two(replicas, "rotate the keys")
    # Handed on by the impatient replica: the other instance has a second to acknowledge, and lets it lapse.
    failure = pb.FailTaskRequest(task_id=task_id, error_message="no access")
    other = (await replicas.impatient.FailTask(failure, metadata=failing.token)).task.assignment.instance.instance_name

    async def lapsed() -> bool:
        return (await get(replicas.first, boss, task_id)).assignment_count >= 3

    await eventually(lapsed, timeout=30)
    # The lapsed instance gets it again (no other is eligible), never the one that failed it.
    task = await get(replicas.first, boss, task_id)
    assert task.assignment.instance.instance_name == other != failing.name
    assert task.state == rpb.TASK_STATE_ASSIGNED and task.error_message == "no access"


async def acknowledged_by_one_of_two(replicas: Replicas, what: str) -> tuple[Metadata, str, Agent, Agent]:
    """A task two agents could do, acknowledged by the one it went to: (its distributor, the task, the
    assignee, the other agent)."""
    skill = f"skill-{uuid.uuid4().hex[:6]}"
    agents = {a.name: a for a in [await agent(replicas.mesh, skill), await agent(replicas.mesh, skill)]}
    boss = await distributor(replicas.mesh)
    task_id = await distribute(replicas.first, boss, skill, what)
    assignee = agents[(await get(replicas.first, boss, task_id)).assignment.instance.instance_name]
    other = next(candidate for name, candidate in agents.items() if name != assignee.name)
    await replicas.second.AcknowledgeTask(pb.AcknowledgeTaskRequest(task_id=task_id), metadata=assignee.token)
    return boss, task_id, assignee, other
