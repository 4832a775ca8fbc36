"""gRPC statuses as HTTP errors: the status code by google.rpc's mapping, and the google.rpc.Status as JSON.

The body of every error is the canonical JSON of the ``google.rpc.Status`` the gRPC call ended with
(``{"code": 3, "message": "...", "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
...}]}``), so HTTP clients see exactly the details gRPC clients see. A ``google.rpc.RetryInfo``
detail also becomes a ``Retry-After`` header.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, cast

import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

log = logging.getLogger(__name__)

# google/rpc/code.proto gives each code its HTTP status.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


@dataclass(frozen=True)
class ErrorReply:
    http_status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error_reply(status: status_pb2.Status, http_status: int | None = None) -> ErrorReply:
    """The HTTP form of ``status``; ``http_status`` overrides the mapped one (413, 405, 415)."""
    code = _CODES_BY_NUMBER.get(status.code, grpc.StatusCode.UNKNOWN)
    headers: dict[str, str] = {}
    retry_after = retry_after_seconds(status)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if code is grpc.StatusCode.UNAUTHENTICATED:
        # RFC 9110: a 401 names the scheme the client should use.
        headers["WWW-Authenticate"] = 'Bearer realm="cerebro"'
    return ErrorReply(http_status or HTTP_STATUS[code], status_json(status), headers)


def status_of_rpc_error(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The rich status a call ended with (its details included), or one made of its code and message."""
    try:
        # An AioRpcError has all from_call reads (code, details, trailing metadata), though it is no grpc.Call.
        status = rpc_status.from_call(cast(grpc.Call, error))
    except ValueError:  # the details trailer disagrees with the call's code or message
        status = None
    if status is None:
        status = status_pb2.Status(code=error.code().value[0], message=error.details() or "")
    return status


def status_json(status: status_pb2.Status) -> dict[str, Any]:
    details = []
    for detail in status.details:
        try:
            details.append(json_format.MessageToDict(detail))
        except TypeError:  # a detail type this process does not know: JSON cannot show it
            log.warning("dropping an error detail of unknown type %s", detail.type_url)
    return {"code": status.code, "message": status.message, "details": details}


def retry_after_seconds(status: status_pb2.Status) -> int | None:
    """Whole seconds of the status's RetryInfo, rounded up (Retry-After has no fractions), or None."""
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return max(1, math.ceil(int(info.retry_delay.ToNanoseconds()) / 1e9))
    return None
