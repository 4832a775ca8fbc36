"""Task distribution: the best active agent instance for a task, and why."""

from __future__ import annotations

import uuid

import asyncpg
import grpc
from google.protobuf import timestamp_pb2

from cerebro.consensus.v1 import consensus_pb2
from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import resources_pb2
from cerebro.runtime.errors import already_exists, failed_precondition
from cerebro.runtime.violations import Violations
from services.gateway.api.base import ApiBase
from services.gateway.call import caller
from services.gateway.distribution import choose
from services.gateway.store.tasks import TaskStore, request_digest

MAX_DESCRIPTION_CHARS = 10_000
MAX_CAPABILITIES = 64
MAX_REGION_CHARS = 100
MAX_CAPABILITY_CHARS = 100


def assignment_message(row: asyncpg.Record) -> resources_pb2.TaskAssignment:
    assigned = timestamp_pb2.Timestamp()
    assigned.FromDatetime(row["assigned_at"])
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
        assign_time=assigned,
    )


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


class TasksApi(ApiBase):
    async def DistributeTask(
        self, request: pb.DistributeTaskRequest, context: grpc.aio.ServicerContext
    ) -> pb.DistributeTaskResponse:
        request_id = check_task(request) or uuid.uuid4()
        requester = caller().namespace
        required = list(request.required_capabilities)
        region = request.preferred_region or self.resources.region
        digest = request_digest(request.description, required, region)
        store = TaskStore(self.resources.pool)
        earlier = await store.find(requester, request_id)
        if earlier is None:
            instances = await self.active_instances(agents_only=True)
            window = self.resources.settings.task_load_window_seconds
            async with store.assigning() as assigning:
                loads = await assigning.loads([instance.instance_id for instance in instances], window)
                choice = choose(instances, required, region, loads, window)
                if choice is None:
                    raise failed_precondition(
                        f"no active agent instance has any of the required capabilities ({', '.join(required)})",
                        "NO_CAPABLE_INSTANCE",
                        "required_capabilities",
                    )
                chosen = choice.chosen
                earlier = await assigning.record(
                    requester=requester,
                    request_id=request_id,
                    digest=digest,
                    description=request.description,
                    required=required,
                    instance_id=chosen.instance.instance_id,
                    instance=chosen.instance.SerializeToString(),
                    matched=chosen.matched,
                    missing=chosen.missing,
                    in_preferred_region=chosen.in_preferred_region,
                    load=chosen.load,
                    candidate_count=choice.candidate_count,
                    reason=choice.reason,
                )
        if bytes(earlier["request_sha256"]) != digest:
            raise already_exists(
                "request", str(request_id), f"request_id {request_id} was already used for another task"
            )
        return pb.DistributeTaskResponse(assignment=assignment_message(earlier))
