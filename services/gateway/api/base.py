"""What every part of the gateway API works with, and how it calls downstream services.

Each part subclasses the generated ``AgentGatewayServicer`` through :class:`ApiBase` and implements
some of its methods with their generated signatures, so every method's implementation is an override
an IDE finds; :class:`services.gateway.api.servicer.GatewayServicer` combines the parts. A method
reads its caller and deadline from :func:`services.gateway.call.current_call`, which the
authentication interceptor set for the call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import asyncpg
import grpc

from cerebro.consensus.v1 import consensus_pb2
from cerebro.gateway.v1 import gateway_pb2_grpc
from cerebro.runtime.errors import permission_denied
from cerebro.runtime.violations import Violations
from services.gateway.auth import Authenticator
from services.gateway.call import caller, current_call
from services.gateway.distribution import active_instances
from services.gateway.downstream import FieldMap, relayed_error
from services.gateway.emotion_signals import EmotionSignals
from services.gateway.health import HealthChecker
from services.gateway.learning_signals import LearningSignals
from services.gateway.namespaces import Namespaces
from services.gateway.replicas import ReplicaPool
from services.gateway.settings import GatewaySettings
from services.gateway.store.learnings import LearningStore
from services.gateway.store.tasks import TaskStore
from services.gateway.task_signals import TaskSignals

if TYPE_CHECKING:
    from cerebro.consensus.v1.consensus_pb2_grpc import ConsensusServiceAsyncStub as ConsensusStub
    from cerebro.embedder.v1.embedder_pb2_grpc import EmbedderServiceAsyncStub as EmbedderStub
    from cerebro.memory.v1.memory_service_pb2_grpc import MemoryServiceAsyncStub as MemoryStub

ResultT = TypeVar("ResultT")

# Field names that are the same in the gateway request and the downstream request.
SAME_FIELDS: FieldMap = {}


@dataclass(frozen=True)
class GatewayResources:
    pool: asyncpg.Pool
    memory: ReplicaPool[MemoryStub]
    consensus: ReplicaPool[ConsensusStub]
    # Not called by the API itself (the memory service embeds); its replicas are part of health.
    embedder: ReplicaPool[EmbedderStub]
    authenticator: Authenticator
    namespaces: Namespaces
    learnings: LearningStore
    signals: LearningSignals
    emotion_signals: EmotionSignals
    tasks: TaskStore
    task_signals: TaskSignals
    health: HealthChecker
    settings: GatewaySettings
    region: str


class ApiBase(gateway_pb2_grpc.AgentGatewayServicer):
    """Base of the API parts that :class:`services.gateway.api.servicer.GatewayServicer` combines."""

    def __init__(self, resources: GatewayResources) -> None:
        self.resources = resources

    async def memory(
        self,
        invoke: Callable[[MemoryStub, float], Awaitable[ResultT]],
        *,
        idempotent: bool,
        fields: FieldMap = SAME_FIELDS,
    ) -> ResultT:
        """``invoke(stub, timeout)`` on a memory replica, within the call's deadline; its errors become the caller's."""
        try:
            return await self.resources.memory.call(invoke, current_call().deadline, idempotent=idempotent)
        except grpc.aio.AioRpcError as error:
            raise relayed_error("memory", error, fields) from None

    async def consensus(
        self,
        invoke: Callable[[ConsensusStub, float], Awaitable[ResultT]],
        *,
        idempotent: bool,
        fields: FieldMap = SAME_FIELDS,
    ) -> ResultT:
        """``invoke(stub, timeout)`` on a consensus replica, within the call's deadline; its errors become the
        caller's."""
        try:
            return await self.resources.consensus.call(invoke, current_call().deadline, idempotent=idempotent)
        except grpc.aio.AioRpcError as error:
            raise relayed_error("consensus", error, fields) from None

    async def own_namespace(self) -> str:
        """The caller's namespace, created in the memory service on its first use."""
        namespace = caller().namespace
        await self.resources.namespaces.ensure(namespace, current_call().deadline)
        return namespace

    async def readable_namespace(self, requested: str) -> str:
        """The namespace a read works on: the caller's own (when ``requested`` is empty) or a granted one."""
        principal = caller()
        namespace = await self.resources.authenticator.readable_namespace(principal, requested)
        if namespace == principal.namespace:
            await self.resources.namespaces.ensure(namespace, current_call().deadline)
        return namespace

    async def active_instances(
        self, *, region: str = "", capability: str = "", agents_only: bool
    ) -> list[consensus_pb2.Instance]:
        """Active instances by name; without the mesh's service replicas (workers) when ``agents_only``."""
        return await active_instances(
            self._instances_page, region=region, capability=capability, agents_only=agents_only
        )

    async def _instances_page(self, request: consensus_pb2.ListInstancesRequest) -> consensus_pb2.ListInstancesResponse:
        return await self.consensus(lambda stub, timeout: stub.ListInstances(request, timeout=timeout), idempotent=True)

    def bound_instance_name(self, action: str) -> str:
        """The instance the caller's credential is bound to; PERMISSION_DENIED when it is bound to none."""
        bound_name = caller().instance_name
        if bound_name is None:
            raise permission_denied(f"this credential is not bound to an instance, so it cannot {action}")
        return bound_name

    async def check_acts_for(self, instance_id: str, field: str) -> None:
        """PERMISSION_DENIED unless ``instance_id`` is the instance the caller's credential is bound to."""
        bound_name = self.bound_instance_name("act for an instance")
        violations = Violations()
        violations.uuid(field, instance_id)
        violations.raise_if_any()
        downstream = consensus_pb2.GetInstanceRequest(instance_id=instance_id)
        response = await self.consensus(
            lambda stub, timeout: stub.GetInstance(downstream, timeout=timeout),
            idempotent=True,
            fields={"instance_id": field},
        )
        if response.instance.instance_name != bound_name:
            raise permission_denied(f"this credential acts for {bound_name!r}, not for instance {instance_id}")
