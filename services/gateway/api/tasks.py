"""Tasks: distribution to the best active agent instance (and why), and the assignee's inbox.

The state machine, who may do what and the lapse rules are documented on AgentGateway's Tasks methods
(gateway.proto); the SQL is in services.gateway.store.tasks, the lapse sweep in
services.gateway.task_redistribution.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import grpc
from google.protobuf import timestamp_pb2

from cerebro.consensus.v1 import consensus_pb2
from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import resources_pb2
from cerebro.runtime.errors import already_exists, failed_precondition, not_found, permission_denied
from cerebro.runtime.pagination import Key, paginate
from cerebro.runtime.safe_values import stored_struct
from cerebro.runtime.violations import Violations
from services.gateway.api.base import ApiBase
from services.gateway.call import caller
from services.gateway.distribution import choose
from services.gateway.store.tasks import ENDED, Chosen, TaskState, instance_payload, request_digest, task_payload

MAX_DESCRIPTION_CHARS = 10_000
MAX_CAPABILITIES = 64
MAX_REGION_CHARS = 100
MAX_CAPABILITY_CHARS = 100
MAX_STATUS_MESSAGE_CHARS = 1_000
MAX_ERROR_MESSAGE_CHARS = 1_000
MAX_RESULT_BYTES = 65_536
SEND_BATCH = 100

STATES = {
    resources_pb2.TASK_STATE_PENDING: TaskState.PENDING,
    resources_pb2.TASK_STATE_ASSIGNED: TaskState.ASSIGNED,
    resources_pb2.TASK_STATE_ACKNOWLEDGED: TaskState.ACKNOWLEDGED,
    resources_pb2.TASK_STATE_SUCCEEDED: TaskState.SUCCEEDED,
    resources_pb2.TASK_STATE_FAILED: TaskState.FAILED,
}
STATE_MESSAGES = {state: number for number, state in STATES.items()}


def _timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def assignment_message(row: asyncpg.Record) -> resources_pb2.TaskAssignment:
    return resources_pb2.TaskAssignment(
        task_id=str(row["task_id"]),
        request_id=str(row["request_id"]),
        description=row["description"],
        required_capabilities=row["required_capabilities"],
        instance=consensus_pb2.Instance.FromString(row["instance"]),
        matched_capabilities=row["matched_capabilities"],
        missing_capabilities=row["missing_capabilities"],
        in_preferred_region=row["in_preferred_region"],
        load=row["load"],
        candidate_count=row["candidate_count"],
        reason=row["reason"],
        assign_time=_timestamp(row["assigned_at"]),
    )


def task_message(row: asyncpg.Record) -> resources_pb2.Task:
    task = resources_pb2.Task(
        task_id=str(row["task_id"]),
        distributor=row["distributor"],
        description=row["description"],
        required_capabilities=row["required_capabilities"],
        state=STATE_MESSAGES[TaskState(row["state"])],
        assignment=assignment_message(row),
        assignment_count=row["assignment_count"],
        status_message=row["status_message"],
        error_message=row["error_message"],
        version=row["version"],
        create_time=_timestamp(row["created_at"]),
        update_time=_timestamp(row["updated_at"]),
    )
    if row["acknowledge_deadline"] is not None:
        task.acknowledge_deadline.CopyFrom(_timestamp(row["acknowledge_deadline"]))
    if row["progress"] is not None:
        task.progress = row["progress"]
    if row["result"] is not None:
        task.result.CopyFrom(stored_struct(row["result"], f"task {row['task_id']} result"))
    return task


def _list_key(after: Key | None) -> tuple[datetime, uuid.UUID] | None:
    """ListTasks' page key, as the page token decoded it with kinds ("time", "uuid")."""
    if after is None:
        return None
    created_at, task_id = after
    if not isinstance(created_at, datetime) or not isinstance(task_id, uuid.UUID):
        raise TypeError(f"a ListTasks page key is (time, uuid), not {after!r}")
    return created_at, task_id


def check_task(request: pb.DistributeTaskRequest) -> uuid.UUID | None:
    violations = Violations()
    request_id = violations.uuid("request_id", request.request_id, required=False)
    violations.text("description", request.description, max_chars=MAX_DESCRIPTION_CHARS)
    violations.distinct_tokens(
        "required_capabilities",
        request.required_capabilities,
        max_items=MAX_CAPABILITIES,
        max_chars=MAX_CAPABILITY_CHARS,
    )
    violations.token("preferred_region", request.preferred_region, max_chars=MAX_REGION_CHARS, required=False)
    violations.raise_if_any()
    return request_id


def task_id_of(task_id: str) -> uuid.UUID:
    violations = Violations()
    violations.uuid("task_id", task_id)
    violations.raise_if_any()
    return uuid.UUID(task_id)


class TasksApi(ApiBase):
    async def DistributeTask(
        self, request: pb.DistributeTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.DistributeTaskResponse:
        request_id = check_task(request) or uuid.uuid4()
        requester = caller().namespace
        required = list(request.required_capabilities)
        region = request.preferred_region or self.resources.region
        digest = request_digest(request.description, required, region)
        store = self.resources.tasks
        earlier = await store.find(requester, request_id)
        if earlier is None:
            instances = await self.active_instances(agents_only=True)
            settings = self.resources.settings
            async with store.assigning() as assigning:
                loads = await assigning.loads(
                    [instance.instance_id for instance in instances], settings.task_load_window_seconds
                )
                choice = choose(instances, required, region, loads, settings.task_load_window_seconds)
                if choice is None:
                    raise failed_precondition(
                        f"no active agent instance has any of the required capabilities ({', '.join(required)})",
                        "NO_CAPABLE_INSTANCE",
                        "required_capabilities",
                    )
                earlier = await assigning.record(
                    requester=requester,
                    request_id=request_id,
                    digest=digest,
                    description=request.description,
                    required=required,
                    preferred_region=region,
                    chosen=Chosen.of(choice),
                    acknowledge_seconds=settings.task_acknowledge_seconds,
                )
        if bytes(earlier["request_sha256"]) != digest:
            raise already_exists(
                "request", str(request_id), f"request_id {request_id} was already used for another task"
            )
        return pb.DistributeTaskResponse(assignment=assignment_message(earlier))

    async def WatchTasks(
        self, request: pb.WatchTasksRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchTasksResponse]:
        violations = Violations()
        task_id = violations.uuid("task_id", request.task_id, required=False)
        if request.after_cursor < 0:
            violations.add("after_cursor", "must not be negative")
        if task_id is not None and request.after_cursor:
            violations.add("after_cursor", "resumes an inbox; it cannot be given with task_id")
        violations.raise_if_any()
        if task_id is not None:
            async for response in self._watch_task(task_id):
                yield response
            return
        assignee = self.bound_instance_name("receive tasks")
        store, poll = self.resources.tasks, self.resources.settings.task_poll_seconds
        cursor = request.after_cursor
        with self.resources.task_signals.waiter(instance_payload(assignee)) as assigned:
            while True:
                # Cleared before looking, so a task assigned meanwhile is either seen now or wakes us.
                assigned.clear()
                tasks = await store.inbox(assignee, cursor, SEND_BATCH)
                for row in tasks:
                    cursor = row["delivery_cursor"]
                    yield pb.WatchTasksResponse(task=task_message(row), cursor=cursor)
                if len(tasks) < SEND_BATCH:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(assigned.wait(), poll)

    async def _watch_task(self, task_id: uuid.UUID) -> AsyncIterator[pb.WatchTasksResponse]:
        poll = self.resources.settings.task_poll_seconds
        sent_version = 0
        with self.resources.task_signals.waiter(task_payload(task_id)) as changed:
            while True:
                changed.clear()
                # Read as the caller each time: an assignee that lapsed may no longer read the task.
                row = await self._readable_task(task_id)
                if row["version"] > sent_version:
                    sent_version = row["version"]
                    yield pb.WatchTasksResponse(task=task_message(row), cursor=sent_version)
                if row["state"] in ENDED:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), poll)

    async def _readable_task(self, task_id: uuid.UUID) -> asyncpg.Record:
        """The task, when the caller is its distributor or its assignee; PERMISSION_DENIED otherwise."""
        row = await self.resources.tasks.get(task_id)
        if row is None:
            raise not_found("task", str(task_id))
        principal = caller()
        if principal.namespace != row["distributor"] and principal.instance_name != row["assignee_name"]:
            raise permission_denied(f"only the distributor and the assignee of task {task_id} may read it")
        return row

    async def GetTask(self, request: pb.GetTaskRequest, context: grpc.aio.ServicerContext) -> pb.GetTaskResponse:
        return pb.GetTaskResponse(task=task_message(await self._readable_task(task_id_of(request.task_id))))

    async def ListTasks(self, request: pb.ListTasksRequest, context: grpc.aio.ServicerContext) -> pb.ListTasksResponse:
        violations = Violations()
        page_size = violations.page_size("page_size", request.page_size)
        states: list[TaskState] = []
        for index, number in enumerate(request.states):
            state = violations.enum(f"states[{index}]", number, STATES, required=True)
            if state is not None and state in states:
                violations.add(f"states[{index}]", "repeats an earlier state")
            elif state is not None:
                states.append(state)
        violations.raise_if_any()
        if request.distributed:
            assignee_name, distributor = None, caller().namespace
        else:
            assignee_name, distributor = self.bound_instance_name("have tasks assigned"), None
        store = self.resources.tasks
        page = await paginate(
            request,
            page_size=page_size,
            kinds=("time", "uuid"),
            fetch=lambda after, limit: store.list(
                assignee_name=assignee_name,
                distributor=distributor,
                states=states,
                after=_list_key(after),
                limit=limit,
            ),
            key=lambda row: (row["created_at"], row["task_id"]),
        )
        return pb.ListTasksResponse(
            tasks=[task_message(row) for row in page.items], next_page_token=page.next_page_token
        )

    async def AcknowledgeTask(
        self, request: pb.AcknowledgeTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.AcknowledgeTaskResponse:
        task_id = task_id_of(request.task_id)
        assignee = self.bound_instance_name("acknowledge a task")
        return pb.AcknowledgeTaskResponse(task=task_message(await self.resources.tasks.acknowledge(task_id, assignee)))

    async def ReportTaskProgress(
        self, request: pb.ReportTaskProgressRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportTaskProgressResponse:
        violations = Violations()
        violations.uuid("task_id", request.task_id)
        progress = violations.fraction("progress", request.progress) if request.HasField("progress") else None
        violations.text("status_message", request.status_message, required=False, max_chars=MAX_STATUS_MESSAGE_CHARS)
        violations.raise_if_any()
        task_id = uuid.UUID(request.task_id)
        assignee = self.bound_instance_name("report a task's progress")
        row = await self.resources.tasks.report_progress(task_id, assignee, progress, request.status_message)
        return pb.ReportTaskProgressResponse(task=task_message(row))

    async def CompleteTask(
        self, request: pb.CompleteTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.CompleteTaskResponse:
        violations = Violations()
        violations.uuid("task_id", request.task_id)
        result = (
            violations.struct("result", request.result, max_bytes=MAX_RESULT_BYTES)
            if request.HasField("result")
            else None
        )
        violations.raise_if_any()
        task_id = uuid.UUID(request.task_id)
        assignee = self.bound_instance_name("complete a task")
        row = await self.resources.tasks.complete(task_id, assignee, result)
        return pb.CompleteTaskResponse(task=task_message(row))

    async def FailTask(self, request: pb.FailTaskRequest, context: grpc.aio.ServicerContext) -> pb.FailTaskResponse:
        violations = Violations()
        violations.uuid("task_id", request.task_id)
        violations.text("error_message", request.error_message, max_chars=MAX_ERROR_MESSAGE_CHARS)
        result = (
            violations.struct("result", request.result, max_bytes=MAX_RESULT_BYTES)
            if request.HasField("result")
            else None
        )
        violations.raise_if_any()
        task_id = uuid.UUID(request.task_id)
        assignee = self.bound_instance_name("fail a task")
        return pb.FailTaskResponse(
            task=task_message(await self._fail(task_id, assignee, result, request.error_message))
        )

    async def _fail(
        self, task_id: uuid.UUID, assignee: str, result: dict[str, Any] | None, error_message: str
    ) -> asyncpg.Record:
        """The assignee's failure: the task goes to the best eligible instance that has not failed it, as
        DistributeTask would choose, or ends FAILED when none is active."""
        instances = await self.active_instances(agents_only=True)
        settings = self.resources.settings
        store = self.resources.tasks
        async with store.assigning() as assigning:
            task = await assigning.failing(task_id, assignee, result, error_message)
            if task is not None:
                failed = {*task["failed_assignees"], assignee}
                others = [instance for instance in instances if instance.instance_name not in failed]
                loads = await assigning.loads(
                    [instance.instance_id for instance in others], settings.task_load_window_seconds
                )
                window = settings.task_load_window_seconds
                choice = choose(others, task["required_capabilities"], task["preferred_region"], loads, window)
                await assigning.record_failure(task, result, error_message, ended=choice is None)
                if choice is not None:
                    why = f"Distributed again: {assignee} failed it ({error_message})."
                    lapsed_ids = list(task["lapsed_instance_ids"])
                    await assigning.reassign(
                        task, Chosen.of(choice, prefix=why), lapsed_ids, settings.task_acknowledge_seconds
                    )
        row = await store.get(task_id)
        assert row is not None
        return row
