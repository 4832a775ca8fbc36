"""The instance network as agents see it: connected instances, and joining, renewing and leaving it.

Registrations, heartbeats and deregistrations arrive signed by the instance's own Ed25519 key and are
forwarded as they are; the gateway only checks that they are for the instance the caller's
credential is bound to, and that an agent does not register as one of the mesh's service replicas.
"""

from __future__ import annotations

import grpc

from cerebro.consensus.v1 import consensus_pb2
from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.runtime.errors import permission_denied
from cerebro.runtime.violations import Violations
from services.gateway.api.base import ApiBase

# Discovery sends service traffic to WORKER instances; an agent registering as one could receive it.
AGENT_INSTANCE_TYPES = (consensus_pb2.INSTANCE_TYPE_PRIMARY, consensus_pb2.INSTANCE_TYPE_SPECIALIZED)


class InstancesApi(ApiBase):
    async def ListConnectedInstances(
        self, request: pb.ListConnectedInstancesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListConnectedInstancesResponse:
        instances = await self.active_instances(
            region=request.region, capability=request.capability, agents_only=not request.include_service_replicas
        )
        return pb.ListConnectedInstancesResponse(instances=instances, total_connected=len(instances))

    async def RegisterInstance(
        self, request: pb.RegisterInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterInstanceResponse:
        bound_name = self.bound_instance_name("register an instance")
        violations = Violations()
        if not request.HasField("instance"):
            violations.add("instance", "is required")
        elif request.instance.instance_type not in AGENT_INSTANCE_TYPES:
            violations.add(
                "instance.instance_type",
                "must be INSTANCE_TYPE_PRIMARY or INSTANCE_TYPE_SPECIALIZED (service replicas register directly)",
            )
        violations.raise_if_any()
        if request.instance.instance_name != bound_name:
            raise permission_denied(
                f"this credential is bound to instance {bound_name!r}, not {request.instance.instance_name!r}"
            )
        downstream = consensus_pb2.RegisterInstanceRequest(
            instance=request.instance, sign_time=request.sign_time, signature=request.signature
        )
        # Idempotent: the same signed registration again is accepted without change.
        response = await self.consensus(
            lambda stub, timeout: stub.RegisterInstance(downstream, timeout=timeout), idempotent=True
        )
        return pb.RegisterInstanceResponse(
            instance=response.instance, created=response.created, lease_ttl_seconds=response.lease_ttl_seconds
        )

    async def RenewInstanceLease(
        self, request: pb.RenewInstanceLeaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenewInstanceLeaseResponse:
        await self.check_acts_for(request.instance_id, "instance_id")
        downstream = consensus_pb2.HeartbeatRequest(
            instance_id=request.instance_id, sign_time=request.sign_time, signature=request.signature
        )
        response = await self.consensus(
            lambda stub, timeout: stub.Heartbeat(downstream, timeout=timeout), idempotent=True
        )
        return pb.RenewInstanceLeaseResponse(instance=response.instance, lease_ttl_seconds=response.lease_ttl_seconds)

    async def DeregisterInstance(
        self, request: pb.DeregisterInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeregisterInstanceResponse:
        await self.check_acts_for(request.instance_id, "instance_id")
        downstream = consensus_pb2.DeregisterInstanceRequest(
            instance_id=request.instance_id, sign_time=request.sign_time, signature=request.signature
        )
        response = await self.consensus(
            lambda stub, timeout: stub.DeregisterInstance(downstream, timeout=timeout), idempotent=True
        )
        return pb.DeregisterInstanceResponse(instance=response.instance)
