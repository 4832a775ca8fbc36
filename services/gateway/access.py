"""Who may call each AgentGateway method, as gateway.proto declares it (the ``cerebro.gateway.v1.access``
method option; see protos/cerebro/gateway/v1/options.proto)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

from google.protobuf.descriptor import ServiceDescriptor

from cerebro.gateway.v1 import gateway_pb2, options_pb2

Access: TypeAlias = options_pb2.Access.ValueType

PUBLIC: Access = options_pb2.ACCESS_PUBLIC
READ: Access = options_pb2.ACCESS_READ
WRITE: Access = options_pb2.ACCESS_WRITE

SERVICE = gateway_pb2.DESCRIPTOR.services_by_name["AgentGateway"]


class MissingAccess(ValueError):
    """A method of the service declares no access level."""


def declared_access(service: ServiceDescriptor) -> dict[str, Access]:
    """Method name -> its access level; MissingAccess when a method declares none."""
    levels: dict[str, Access] = {}
    for method in service.methods:
        level = method.GetOptions().Extensions[options_pb2.access]
        if level == options_pb2.ACCESS_UNSPECIFIED:
            raise MissingAccess(f"{method.full_name} declares no (cerebro.gateway.v1.access) option")
        levels[method.name] = level
    return levels


# Read once at import: a method without a declared level stops the gateway from starting at all.
METHOD_ACCESS: Mapping[str, Access] = declared_access(SERVICE)
PUBLIC_METHODS = frozenset(name for name, level in METHOD_ACCESS.items() if level == PUBLIC)
