"""The lapse sweep: tasks whose assignee lapsed go back to distribution.

Every replica runs one (a background task), every ``CEREBRO_GATEWAY_TASK_POLL_SECONDS``. When any
task is open, it reads the active agent instances from consensus and, holding the assignment lock,
takes the open tasks whose assignee lapsed: one that did not acknowledge by its deadline, or whose
instance is no longer active (its lease expired, or it deregistered). Each is assigned again as
DistributeTask would, to an eligible instance that has not lapsed on it, or to a lapsed one when no
other is active, never to one that failed it (FailTask); with no eligible instance at all it waits in
PENDING for the next sweep. The lock
makes replicas take turns, so a task is never given to two instances at once; if consensus cannot
be read, nothing is judged lapsed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

import asyncpg
import grpc

from cerebro.consensus.v1 import consensus_pb2
from cerebro.runtime.errors import ServiceError
from services.gateway.call import Deadline
from services.gateway.distribution import Choice, active_instances, choose
from services.gateway.replicas import ReplicaPool
from services.gateway.store.tasks import Chosen, TaskState, TaskStore

if TYPE_CHECKING:
    from cerebro.consensus.v1.consensus_pb2_grpc import ConsensusServiceAsyncStub

log = logging.getLogger(__name__)

BATCH_SIZE = 100
CONSENSUS_TIMEOUT_SECONDS = 5.0


class TaskRedistributor:
    def __init__(
        self,
        store: TaskStore,
        consensus: ReplicaPool[ConsensusServiceAsyncStub],
        *,
        poll_seconds: float,
        acknowledge_seconds: float,
        load_window_seconds: float,
    ) -> None:
        self._store = store
        self._consensus = consensus
        self._poll_seconds = poll_seconds
        self._acknowledge_seconds = acknowledge_seconds
        self._load_window_seconds = load_window_seconds

    async def run(self) -> None:
        """Sweep until cancelled."""
        while True:
            handled = 0
            try:
                handled = await self.sweep()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("task redistribution: PostgreSQL unavailable (%s); retrying", exc)
            except (grpc.aio.AioRpcError, ServiceError) as exc:
                log.warning("task redistribution: consensus unavailable (%s); nothing is judged lapsed", exc)
            except Exception:
                # A bug must not end redistribution for good: the next sweep looks again.
                log.exception("task redistribution failed")
            if handled < BATCH_SIZE:
                await asyncio.sleep(self._poll_seconds)

    async def sweep(self) -> int:
        """Distribute again up to BATCH_SIZE lapsed or pending tasks; how many were looked at."""
        if not await self._store.has_open_tasks():
            return 0
        instances = await active_instances(self._instances_page, agents_only=True)
        async with self._store.assigning() as assigning:
            tasks = await assigning.lapsed([instance.instance_id for instance in instances], BATCH_SIZE)
            if not tasks:
                return 0
            loads = await assigning.loads([instance.instance_id for instance in instances], self._load_window_seconds)
            for task in tasks:
                lapsed_ids = list(task["lapsed_instance_ids"])
                if task["state"] != TaskState.PENDING and task["instance_id"] not in lapsed_ids:
                    lapsed_ids.append(task["instance_id"])
                choice = self._choose(task, instances, lapsed_ids, loads)
                if choice is None:
                    await assigning.park(task, lapsed_ids)
                    continue
                why = self._why(task, {instance.instance_id for instance in instances})
                await assigning.reassign(task, Chosen.of(choice, prefix=why), lapsed_ids, self._acknowledge_seconds)
                loads[choice.chosen.instance.instance_id] = loads.get(choice.chosen.instance.instance_id, 0) + 1
                log.info("task %s redistributed to %s", task["task_id"], choice.chosen.instance.instance_name)
            return len(tasks)

    def _choose(
        self,
        task: asyncpg.Record,
        instances: list[consensus_pb2.Instance],
        lapsed_ids: list[uuid.UUID],
        loads: dict[str, int],
    ) -> Choice | None:
        """The best instance that has not lapsed on the task, else the best of all; never one that failed it."""
        required, region = task["required_capabilities"], task["preferred_region"]
        eligible = [instance for instance in instances if instance.instance_name not in task["failed_assignees"]]
        fresh = [instance for instance in eligible if uuid.UUID(instance.instance_id) not in lapsed_ids]
        return choose(fresh, required, region, loads, self._load_window_seconds) or choose(
            eligible, required, region, loads, self._load_window_seconds
        )

    @staticmethod
    def _why(task: asyncpg.Record, active_ids: set[str]) -> str:
        if task["state"] == TaskState.PENDING:
            return "Distributed again after waiting for an eligible instance."
        assignee = task["assignee_name"]
        if str(task["instance_id"]) not in active_ids:
            return f"Distributed again: {assignee} lapsed (its instance is no longer active)."
        return f"Distributed again: {assignee} lapsed (it did not acknowledge by the deadline)."

    async def _instances_page(self, request: consensus_pb2.ListInstancesRequest) -> consensus_pb2.ListInstancesResponse:
        deadline = Deadline.after(CONSENSUS_TIMEOUT_SECONDS, CONSENSUS_TIMEOUT_SECONDS)
        return await self._consensus.call(
            lambda stub, timeout: stub.ListInstances(request, timeout=timeout), deadline, idempotent=True
        )
