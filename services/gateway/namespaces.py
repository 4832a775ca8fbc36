"""Memory namespaces of the callers, created on first use.

A credential names its namespace when it is issued (keys.py, no memory service involved); the memory
service learns of it when the namespace's first call arrives.
"""

from __future__ import annotations

import grpc

from cerebro.memory.v1 import memory_service_pb2 as memory_pb
from cerebro.memory.v1 import memory_service_pb2_grpc, namespaces_pb2
from services.gateway.call import Deadline
from services.gateway.downstream import relayed_error
from services.gateway.replicas import ReplicaPool


class Namespaces:
    def __init__(self, memory: ReplicaPool[memory_service_pb2_grpc.MemoryServiceAsyncStub]) -> None:
        self._memory = memory
        self._known: set[str] = set()

    async def ensure(self, namespace: str, deadline: Deadline) -> None:
        """Make sure the memory service has ``namespace``."""
        if namespace in self._known:
            return
        request = memory_pb.CreateNamespaceRequest(namespace=namespaces_pb2.Namespace(name=namespace))
        try:
            await self._memory.call(
                lambda stub, timeout: stub.CreateNamespace(request, timeout=timeout), deadline, idempotent=True
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise relayed_error("memory", error, {"namespace.name": "namespace"}) from None
        self._known.add(namespace)
