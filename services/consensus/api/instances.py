"""The instance network: registration, heartbeats and deregistration (signed), reads, and the watch stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import asyncpg
import grpc

from cerebro.consensus.names import INSTANCE_STATUSES, INSTANCE_TYPES
from cerebro.consensus.signatures import PUBLIC_KEY_BYTES, SIGNATURE_BYTES
from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.runtime.pagination import paginate
from cerebro.runtime.roles import peer_role
from cerebro.runtime.violations import Violations
from services.consensus.api.base import DEFAULT_PAGE_SIZE, ApiBase, canonical_id, timestamp
from services.consensus.events import INSTANCES_CHANNEL
from services.consensus.store.enrollment import MAX_NAME_CHARS
from services.consensus.store.registry import InstanceFilter, Registration, SignedInstanceRequest

MAX_REGION_CHARS = 100
MAX_CAPABILITIES = 64
MAX_CAPABILITY_CHARS = 100
MAX_ENDPOINTS = 16
MAX_ENDPOINT_CHARS = 500

_TYPE_ENUM = {name: number for number, name in INSTANCE_TYPES.items()}
_STATUS_ENUM = {name: number for number, name in INSTANCE_STATUSES.items()}
_EVENTS = {
    "registered": pb.INSTANCE_EVENT_TYPE_REGISTERED,
    "status_changed": pb.INSTANCE_EVENT_TYPE_STATUS_CHANGED,
    "deregistered": pb.INSTANCE_EVENT_TYPE_DEREGISTERED,
}


def instance_message(row: asyncpg.Record) -> pb.Instance:
    return pb.Instance(
        instance_id=str(row["instance_id"]),
        instance_name=row["instance_name"],
        instance_type=_TYPE_ENUM[row["instance_type"]],
        region=row["location"],
        capabilities=row["capabilities"],
        endpoints=row["endpoints"],
        public_key=row["public_key"],
        voting=row["voting"],
        status=_STATUS_ENUM[row["status"]],
        lease_expire_time=timestamp(row["lease_expire_time"]),
        offline_time=timestamp(row["offline_time"]),
        last_heartbeat_time=timestamp(row["last_sync"]),
        create_time=timestamp(row["created_at"]),
        update_time=timestamp(row["updated_at"]),
    )


def parse_registration(request: pb.RegisterInstanceRequest) -> Registration:
    violations = Violations()
    instance = request.instance
    name = violations.token("instance.instance_name", instance.instance_name, max_chars=MAX_NAME_CHARS)
    instance_type = violations.enum("instance.instance_type", instance.instance_type, INSTANCE_TYPES, required=True)
    region = violations.token("instance.region", instance.region, max_chars=MAX_REGION_CHARS)
    capabilities = violations.distinct_tokens(
        "instance.capabilities", instance.capabilities, max_items=MAX_CAPABILITIES, max_chars=MAX_CAPABILITY_CHARS
    )
    endpoints = violations.distinct_tokens(
        "instance.endpoints", instance.endpoints, max_items=MAX_ENDPOINTS, max_chars=MAX_ENDPOINT_CHARS
    )
    public_key = violations.exact_bytes(
        "instance.public_key", instance.public_key, size=PUBLIC_KEY_BYTES, what="an Ed25519 public key"
    )
    sign_time = violations.timestamp(
        "sign_time", request.sign_time, present=request.HasField("sign_time"), required=True
    )
    signature = violations.exact_bytes(
        "signature", request.signature, size=SIGNATURE_BYTES, what="an Ed25519 signature"
    )
    violations.raise_if_any()
    assert instance_type is not None and sign_time is not None  # missing ones were reported above
    return Registration(
        instance_name=name,
        instance_type=instance_type,
        region=region,
        capabilities=capabilities,
        endpoints=endpoints,
        public_key=public_key,
        voting=instance.voting,
        sign_time=sign_time,
        signature=signature,
    )


def parse_signed_instance_request(
    request: pb.HeartbeatRequest | pb.DeregisterInstanceRequest,
) -> SignedInstanceRequest:
    violations = Violations()
    instance_id = canonical_id(violations, "instance_id", request.instance_id)
    sign_time = violations.timestamp(
        "sign_time", request.sign_time, present=request.HasField("sign_time"), required=True
    )
    signature = violations.exact_bytes(
        "signature", request.signature, size=SIGNATURE_BYTES, what="an Ed25519 signature"
    )
    violations.raise_if_any()
    assert sign_time is not None  # a missing one was reported above
    return SignedInstanceRequest(instance_id, sign_time, signature)


class InstancesApi(ApiBase):
    async def RegisterInstance(
        self,
        request: pb.RegisterInstanceRequest,
        context: grpc.aio.ServicerContext[pb.RegisterInstanceRequest, pb.RegisterInstanceResponse],
    ) -> pb.RegisterInstanceResponse:
        registration = parse_registration(request)
        resources = self.resources
        row, created = await resources.registry.register(registration, peer_role(context), resources.roles_verified)
        return pb.RegisterInstanceResponse(
            instance=instance_message(row), created=created, lease_ttl_seconds=resources.settings.lease_ttl_seconds
        )

    async def Heartbeat(
        self, request: pb.HeartbeatRequest, context: grpc.aio.ServicerContext[pb.HeartbeatRequest, pb.HeartbeatResponse]
    ) -> pb.HeartbeatResponse:
        row = await self.resources.registry.heartbeat(parse_signed_instance_request(request))
        return pb.HeartbeatResponse(
            instance=instance_message(row), lease_ttl_seconds=self.resources.settings.lease_ttl_seconds
        )

    async def DeregisterInstance(
        self,
        request: pb.DeregisterInstanceRequest,
        context: grpc.aio.ServicerContext[pb.DeregisterInstanceRequest, pb.DeregisterInstanceResponse],
    ) -> pb.DeregisterInstanceResponse:
        row = await self.resources.registry.deregister(parse_signed_instance_request(request))
        return pb.DeregisterInstanceResponse(instance=instance_message(row))

    async def GetInstance(
        self,
        request: pb.GetInstanceRequest,
        context: grpc.aio.ServicerContext[pb.GetInstanceRequest, pb.GetInstanceResponse],
    ) -> pb.GetInstanceResponse:
        violations = Violations()
        instance_id = canonical_id(violations, "instance_id", request.instance_id)
        violations.raise_if_any()
        return pb.GetInstanceResponse(instance=instance_message(await self.resources.registry.get(instance_id)))

    async def ListInstances(
        self,
        request: pb.ListInstancesRequest,
        context: grpc.aio.ServicerContext[pb.ListInstancesRequest, pb.ListInstancesResponse],
    ) -> pb.ListInstancesResponse:
        violations = Violations()
        page_size = violations.page_size("page_size", request.page_size, default=DEFAULT_PAGE_SIZE)
        status = violations.enum("status", request.status, INSTANCE_STATUSES)
        violations.raise_if_any()
        where = InstanceFilter(status=status, region=request.region or None, capability=request.capability or None)
        page = await paginate(
            request,
            page_size=page_size,
            kinds=("text",),
            fetch=partial(self.resources.registry.list_instances, where),
            key=lambda row: (row["instance_name"],),
        )
        return pb.ListInstancesResponse(
            instances=[instance_message(row) for row in page.items], next_page_token=page.next_page_token
        )

    async def WatchInstances(
        self,
        request: pb.WatchInstancesRequest,
        context: grpc.aio.ServicerContext[pb.WatchInstancesRequest, pb.WatchInstancesResponse],
    ) -> AsyncIterator[pb.WatchInstancesResponse]:
        # Subscribe before reading the snapshot, so no change between the two is missed.
        async with self.resources.hub.subscribe(INSTANCES_CHANNEL) as subscription:
            everyone = InstanceFilter(status=None, region=None, capability=None)
            for row in await self.resources.registry.list_instances(everyone, None, None):
                yield pb.WatchInstancesResponse(
                    event_type=pb.INSTANCE_EVENT_TYPE_EXISTING, instance=instance_message(row)
                )
            while True:
                delivery = await subscription.next()
                yield pb.WatchInstancesResponse(
                    event_type=_EVENTS[delivery.change.event], instance=instance_message(delivery.subject)
                )
