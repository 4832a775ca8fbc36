"""Tasks on PostgreSQL: every assignment (also each instance's load), and each task's life in the inbox.

``gateway.task_assignments`` holds a task's current assignment; ``gateway.tasks`` its state, its place
in the assignee's inbox (``delivery_cursor``), progress and result. Assignments, first ones and
redistributions alike, are made one at a time across all replicas under an advisory lock, so each
sees the load the previous added and cursors are committed in increasing order: a stream that has
sent cursor N never misses a later assignment by looking only above N. Every change notifies
TASKS_CHANNEL, so the replica holding the assignee's or a watcher's stream sends it at once.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from cerebro.runtime.database import Connection
from cerebro.runtime.errors import failed_precondition, not_found, permission_denied
from cerebro.runtime.notifications import notify
from services.gateway.distribution import Choice
from services.gateway.store.channels import TASKS_CHANNEL

_ASSIGNMENT_LOCK = int.from_bytes(hashlib.sha256(b"cerebro-gateway-task-assignment").digest()[:8], "big", signed=True)

_COLUMNS = """task_id, request_id, request_sha256, description, required_capabilities, instance, matched_capabilities,
    missing_capabilities, in_preferred_region, load, candidate_count, reason, assigned_at"""

_TASK_COLUMNS = """t.task_id, a.request_id, a.request_sha256, a.description, a.required_capabilities, a.instance_id,
    a.instance, a.matched_capabilities, a.missing_capabilities, a.in_preferred_region, a.load, a.candidate_count,
    a.reason, a.assigned_at, t.distributor, t.state, t.preferred_region, t.assignee_name, t.delivery_cursor,
    t.acknowledge_deadline, t.assignment_count, t.lapsed_instance_ids, t.failed_assignees, t.progress, t.status_message,
    t.result, t.error_message, t.version, t.created_at, t.updated_at"""

_TASK_FROM = "gateway.tasks t JOIN gateway.task_assignments a ON a.task_id = t.task_id"


class TaskState(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


ENDED = (TaskState.SUCCEEDED, TaskState.FAILED)


def request_digest(description: str, required: Sequence[str], preferred_region: str) -> bytes:
    canonical = json.dumps([description, list(required), preferred_region], separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).digest()


def instance_payload(instance_name: str) -> str:
    """The TASKS_CHANNEL payload of a (re)assignment to ``instance_name``: its inbox streams wake."""
    return f"instance:{instance_name}"


def task_payload(task_id: uuid.UUID) -> str:
    """The TASKS_CHANNEL payload of any change of a task: its watchers wake."""
    return f"task:{task_id}"


class TaskStore:
    """The SQL of tasks. The pool must decode jsonb (cerebro.runtime.database.open_pool)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def find(self, requester: str, request_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM gateway.task_assignments WHERE requester = $1 AND request_id = $2",
            requester,
            request_id,
        )

    @asynccontextmanager
    async def assigning(self) -> AsyncIterator[Assigning]:
        """A transaction holding the assignment lock."""
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _ASSIGNMENT_LOCK)
            yield Assigning(connection)

    async def get(self, task_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow(f"SELECT {_TASK_COLUMNS} FROM {_TASK_FROM} WHERE t.task_id = $1", task_id)

    async def inbox(self, assignee_name: str, after_cursor: int, limit: int) -> list[asyncpg.Record]:
        """Unacknowledged tasks assigned to ``assignee_name`` with a cursor above ``after_cursor``, in order."""
        return await self._pool.fetch(
            f"""SELECT {_TASK_COLUMNS} FROM {_TASK_FROM}
                WHERE t.assignee_name = $1 AND t.state = 'assigned' AND t.delivery_cursor > $2
                ORDER BY t.delivery_cursor LIMIT $3""",
            assignee_name,
            after_cursor,
            limit,
        )

    async def list(
        self,
        *,
        assignee_name: str | None,
        distributor: str | None,
        states: Sequence[TaskState],
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[asyncpg.Record]:
        """Tasks of one assignee or one distributor, newest first, after the key ``(created_at, task_id)``."""
        who, column = (
            (assignee_name, "t.assignee_name") if assignee_name is not None else (distributor, "t.distributor")
        )
        return await self._pool.fetch(
            f"""SELECT {_TASK_COLUMNS} FROM {_TASK_FROM}
                WHERE {column} = $1 AND (cardinality($2::text[]) = 0 OR t.state = ANY($2::text[]))
                  AND ($3::timestamptz IS NULL OR (t.created_at, t.task_id) < ($3, $4))
                ORDER BY t.created_at DESC, t.task_id DESC LIMIT $5""",
            who,
            [str(state) for state in states],
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )

    async def has_open_tasks(self) -> bool:
        """Whether any task is not ended yet (else the lapse sweep has nothing to look at)."""
        found: bool = await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM gateway.tasks WHERE state IN ('pending', 'assigned', 'acknowledged'))"
        )
        return found

    async def acknowledge(self, task_id: uuid.UUID, assignee_name: str) -> asyncpg.Record:
        async with self._pool.acquire() as connection, connection.transaction():
            task = await _assignees_task(connection, task_id, assignee_name)
            if task["state"] == TaskState.ACKNOWLEDGED:
                return task
            _require_state(task, TaskState.ASSIGNED, "acknowledged")
            return await _update(connection, task_id, "state = 'acknowledged', acknowledge_deadline = NULL")

    async def report_progress(
        self, task_id: uuid.UUID, assignee_name: str, progress: float | None, status_message: str
    ) -> asyncpg.Record:
        async with self._pool.acquire() as connection, connection.transaction():
            task = await _assignees_task(connection, task_id, assignee_name)
            _require_state(task, TaskState.ACKNOWLEDGED, "given progress")
            return await _update(
                connection, task_id, "progress = coalesce($2, progress), status_message = $3", progress, status_message
            )

    async def complete(self, task_id: uuid.UUID, assignee_name: str, result: dict[str, Any] | None) -> asyncpg.Record:
        """Complete an acknowledged task (SUCCEEDED); the same completion again changes nothing. Failing one is
        an assignment matter (:meth:`Assigning.failing`)."""
        async with self._pool.acquire() as connection, connection.transaction():
            task = await _assignees_task(connection, task_id, assignee_name)
            if task["state"] == TaskState.SUCCEEDED and task["result"] == result:
                return task
            _require_state(task, TaskState.ACKNOWLEDGED, "completed")
            return await _update(connection, task_id, "state = 'succeeded', result = $2", result)


async def _assignees_task(connection: Connection, task_id: uuid.UUID, assignee_name: str) -> asyncpg.Record:
    """The task, locked, when ``assignee_name`` is its assignee (the last one, while it is pending)."""
    task = await _locked_task(connection, task_id)
    _check_assignee(task, assignee_name)
    return task


async def _locked_task(connection: Connection, task_id: uuid.UUID) -> asyncpg.Record:
    task = await connection.fetchrow(
        f"SELECT {_TASK_COLUMNS} FROM {_TASK_FROM} WHERE t.task_id = $1 FOR UPDATE OF t", task_id
    )
    if task is None:
        raise not_found("task", str(task_id))
    return task


def _check_assignee(task: asyncpg.Record, assignee_name: str) -> None:
    if task["assignee_name"] != assignee_name:
        raise permission_denied(f"task {task['task_id']} is not assigned to instance {assignee_name!r}")


def _require_state(task: asyncpg.Record, allowed: TaskState, change: str) -> None:
    state = task["state"]
    if state == allowed:
        return
    why = {
        TaskState.PENDING: "its assignee lapsed and it waits to be distributed again",
        TaskState.ASSIGNED: "it is not acknowledged yet",
        TaskState.ACKNOWLEDGED: "it is acknowledged already",
        TaskState.SUCCEEDED: "it succeeded already",
        TaskState.FAILED: "it failed already",
    }[TaskState(state)]
    raise failed_precondition(
        f"task {task['task_id']} is {state.upper()} and cannot be {change}: {why}", f"TASK_{state.upper()}", "state"
    )


async def _update(connection: Connection, task_id: uuid.UUID, assignments: str, *values: object) -> asyncpg.Record:
    """Apply ``assignments`` (SQL from this module, with parameters from $2) and bump the version."""
    await connection.execute(
        f"UPDATE gateway.tasks SET {assignments}, version = version + 1, updated_at = now() WHERE task_id = $1",
        task_id,
        *values,
    )
    await notify(connection, TASKS_CHANNEL, task_payload(task_id))
    row: asyncpg.Record = await connection.fetchrow(
        f"SELECT {_TASK_COLUMNS} FROM {_TASK_FROM} WHERE t.task_id = $1", task_id
    )
    return row


class Assigning:
    """Assignments made in one transaction holding the assignment lock."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def loads(self, instance_ids: Sequence[str], window_seconds: float) -> dict[str, int]:
        """Tasks assigned to each instance within the last ``window_seconds``."""
        rows = await self._connection.fetch(
            """SELECT instance_id::text AS instance_id, count(*) AS load FROM gateway.task_assignments
               WHERE instance_id = ANY($1::uuid[]) AND assigned_at > now() - make_interval(secs => $2)
               GROUP BY instance_id""",
            list(instance_ids),
            window_seconds,
        )
        return {row["instance_id"]: row["load"] for row in rows}

    async def record(
        self,
        *,
        requester: str,
        request_id: uuid.UUID,
        digest: bytes,
        description: str,
        required: Sequence[str],
        preferred_region: str,
        chosen: Chosen,
        acknowledge_seconds: float,
    ) -> asyncpg.Record:
        """The new assignment and its task in the assignee's inbox, or what an earlier request with the same
        id made."""
        task_id = uuid.uuid4()
        row = await self._connection.fetchrow(
            f"""INSERT INTO gateway.task_assignments (task_id, requester, request_id, request_sha256, description,
                    required_capabilities, instance_id, instance, matched_capabilities, missing_capabilities,
                    in_preferred_region, load, candidate_count, reason)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                ON CONFLICT (requester, request_id) DO NOTHING RETURNING {_COLUMNS}""",
            task_id,
            requester,
            request_id,
            digest,
            description,
            list(required),
            uuid.UUID(chosen.instance_id),
            chosen.instance,
            list(chosen.matched),
            list(chosen.missing),
            chosen.in_preferred_region,
            chosen.load,
            chosen.candidate_count,
            chosen.reason,
        )
        if row is None:
            earlier: asyncpg.Record = await self._connection.fetchrow(
                f"SELECT {_COLUMNS} FROM gateway.task_assignments WHERE requester = $1 AND request_id = $2",
                requester,
                request_id,
            )
            return earlier
        await self._connection.execute(
            """INSERT INTO gateway.tasks (task_id, distributor, state, preferred_region, assignee_name,
                   delivery_cursor, acknowledge_deadline)
               VALUES ($1, $2, 'assigned', $3, $4, nextval('gateway.task_cursor'),
                       now() + make_interval(secs => $5))""",
            task_id,
            requester,
            preferred_region,
            chosen.instance_name,
            acknowledge_seconds,
        )
        await notify(self._connection, TASKS_CHANNEL, instance_payload(chosen.instance_name))
        return row

    async def lapsed(self, active_instance_ids: Sequence[str], limit: int) -> list[asyncpg.Record]:
        """Open tasks whose assignee lapsed (no acknowledgement by the deadline, or its instance is not
        active), and pending ones, oldest cursor first, locked for this transaction."""
        return await self._connection.fetch(
            f"""SELECT {_TASK_COLUMNS} FROM {_TASK_FROM}
                WHERE t.state = 'pending'
                   OR (t.state = 'assigned' AND t.acknowledge_deadline < now())
                   OR (t.state IN ('assigned', 'acknowledged') AND a.instance_id <> ALL($1::uuid[]))
                ORDER BY t.delivery_cursor LIMIT $2
                FOR UPDATE OF t SKIP LOCKED""",
            list(active_instance_ids),
            limit,
        )

    async def reassign(
        self, task: asyncpg.Record, chosen: Chosen, lapsed_ids: Sequence[uuid.UUID], acknowledge_seconds: float
    ) -> None:
        """Give a lapsed or pending task to ``chosen``: a new assignment at the end of its inbox. The task keeps
        the last progress and status message reported: the new assignee sees where the work stood."""
        task_id = task["task_id"]
        await self._connection.execute(
            """UPDATE gateway.task_assignments
               SET instance_id = $2, instance = $3, matched_capabilities = $4, missing_capabilities = $5,
                   in_preferred_region = $6, load = $7, candidate_count = $8, reason = $9, assigned_at = now()
               WHERE task_id = $1""",
            task_id,
            uuid.UUID(chosen.instance_id),
            chosen.instance,
            list(chosen.matched),
            list(chosen.missing),
            chosen.in_preferred_region,
            chosen.load,
            chosen.candidate_count,
            chosen.reason,
        )
        await self._connection.execute(
            """UPDATE gateway.tasks
               SET state = 'assigned', assignee_name = $2, delivery_cursor = nextval('gateway.task_cursor'),
                   acknowledge_deadline = now() + make_interval(secs => $3), assignment_count = assignment_count + 1,
                   lapsed_instance_ids = $4, version = version + 1, updated_at = now()
               WHERE task_id = $1""",
            task_id,
            chosen.instance_name,
            acknowledge_seconds,
            list(lapsed_ids),
        )
        await notify(self._connection, TASKS_CHANNEL, instance_payload(chosen.instance_name))
        await notify(self._connection, TASKS_CHANNEL, task_payload(task_id))

    async def failing(
        self, task_id: uuid.UUID, assignee_name: str, result: dict[str, Any] | None, error_message: str
    ) -> asyncpg.Record | None:
        """The acknowledged task ``assignee_name`` fails, locked; None when that failure is recorded already
        (a retry: the caller answers with the task as it now is)."""
        task = await _locked_task(self._connection, task_id)
        if task["assignee_name"] != assignee_name and assignee_name in task["failed_assignees"]:
            return None
        _check_assignee(task, assignee_name)
        if task["state"] == TaskState.FAILED and task["result"] == result and task["error_message"] == error_message:
            return None
        _require_state(task, TaskState.ACKNOWLEDGED, "failed")
        return task

    async def record_failure(
        self, task: asyncpg.Record, result: dict[str, Any] | None, error_message: str, *, ended: bool
    ) -> asyncpg.Record:
        """Record why the assignee failed the task; it ends FAILED when ``ended``, else it is to be reassigned
        (:meth:`reassign`), and keeps the failure's reason and details meanwhile."""
        failed = [*task["failed_assignees"], task["assignee_name"]]
        if ended:
            return await _update(
                self._connection,
                task["task_id"],
                "state = 'failed', result = $2, error_message = $3, failed_assignees = $4",
                result,
                error_message,
                failed,
            )
        await self._connection.execute(
            "UPDATE gateway.tasks SET result = $2, error_message = $3, failed_assignees = $4 WHERE task_id = $1",
            task["task_id"],
            result,
            error_message,
            failed,
        )
        return task

    async def park(self, task: asyncpg.Record, lapsed_ids: Sequence[uuid.UUID]) -> None:
        """A lapsed task no active instance can take waits in PENDING (a pending one stays as it is)."""
        if task["state"] == TaskState.PENDING:
            return
        await self._connection.execute(
            """UPDATE gateway.tasks
               SET state = 'pending', acknowledge_deadline = NULL, lapsed_instance_ids = $2, version = version + 1,
                   updated_at = now()
               WHERE task_id = $1""",
            task["task_id"],
            list(lapsed_ids),
        )
        await notify(self._connection, TASKS_CHANNEL, task_payload(task["task_id"]))


@dataclass(frozen=True)
class Chosen:
    """An assignment to write: the chosen instance and why (services.gateway.distribution)."""

    instance_id: str
    instance_name: str
    # The cerebro.consensus.v1.Instance as it was registered when chosen.
    instance: bytes
    matched: Sequence[str]
    missing: Sequence[str]
    in_preferred_region: bool
    load: int
    candidate_count: int
    reason: str

    @classmethod
    def of(cls, choice: Choice, *, prefix: str = "") -> Chosen:
        """The assignment of ``choice``; ``prefix`` goes before its reason (why it was distributed again)."""
        chosen = choice.chosen
        return cls(
            instance_id=chosen.instance.instance_id,
            instance_name=chosen.instance.instance_name,
            instance=chosen.instance.SerializeToString(),
            matched=chosen.matched,
            missing=chosen.missing,
            in_preferred_region=chosen.in_preferred_region,
            load=chosen.load,
            candidate_count=choice.candidate_count,
            reason=f"{prefix} {choice.reason}" if prefix else choice.reason,
        )
