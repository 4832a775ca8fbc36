"""Errors of the memory and consensus services, passed on to the gateway's caller.

A downstream status keeps its code and ``google.rpc`` details, with two changes: BadRequest field
paths are rewritten from the downstream request's names to the gateway request's (so the caller
sees the field it sent), and failures that are the downstream service's own (INTERNAL, UNKNOWN,
...) become INTERNAL without their message, as any other server-side failure. A response the
gateway cannot decode is INTERNAL too, naming the call (:mod:`cerebro.runtime.response_checks`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from cerebro.runtime.errors import ServiceError
from cerebro.runtime.response_checks import UndecodableResponse

log = logging.getLogger(__name__)

# Codes that describe the request or the state of the mesh, meaningful to the caller as they are.
_RELAYED_CODES = {
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,  # a signature that does not verify (consensus)
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAVAILABLE,
}

FieldMap = Mapping[str, str]
"""Downstream field path prefix -> gateway field path prefix; "" maps onto the request itself."""


class RelayedError(ServiceError):
    """A downstream status, as it goes back to the caller."""

    def __init__(self, code: grpc.StatusCode, status: status_pb2.Status) -> None:
        super().__init__(code, status.message)
        self._status = status

    def to_status_proto(self) -> status_pb2.Status:
        return self._status


def relayed_error(service: str, error: grpc.aio.AioRpcError, fields: FieldMap) -> ServiceError:
    code = error.code()
    if isinstance(error, UndecodableResponse):
        log.error("%s: %s", service, error.details())
        return ServiceError(grpc.StatusCode.INTERNAL, f"the {service} service failed: {error.details()}")
    if code not in _RELAYED_CODES:
        log.error("%s failed: %s %s", service, code.name, error.details())
        return ServiceError(grpc.StatusCode.INTERNAL, f"the {service} service failed")
    status = rpc_status.from_call(error) or status_pb2.Status(code=code.value[0], message=error.details() or "")
    if code is grpc.StatusCode.INVALID_ARGUMENT and fields:
        status = _renamed_fields(status, fields)
    return RelayedError(code, status)


def rename_field(path: str, fields: FieldMap) -> str:
    """``path`` with its longest mapped prefix replaced (e.g. "episode.tags[2]" -> "tags[2]")."""
    best = ""
    for prefix in fields:
        if len(prefix) > len(best) and (path == prefix or path.startswith((prefix + ".", prefix + "["))):
            best = prefix
    if not best:
        return path
    replacement, rest = fields[best], path[len(best) :]
    if not replacement:
        return rest.removeprefix(".")
    return replacement + rest


def _renamed_fields(status: status_pb2.Status, fields: FieldMap) -> status_pb2.Status:
    renamed = status_pb2.Status(code=status.code, message=status.message)
    descriptions: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            request = error_details_pb2.BadRequest()
            detail.Unpack(request)
            for violation in request.field_violations:
                violation.field = rename_field(violation.field, fields)
                descriptions.append(f"{violation.field}: {violation.description}")
            renamed.details.add().Pack(request)
        else:
            renamed.details.add().CopyFrom(detail)
    if descriptions:
        renamed.message = "; ".join(descriptions)
    return renamed
