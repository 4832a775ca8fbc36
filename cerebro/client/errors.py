"""Typed errors of the gateway: the gRPC code, its message, and the google.rpc details decoded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class CerebroError(Exception):
    """A call to the gateway failed. ``details`` holds every google.rpc detail the server sent."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        details: tuple[object, ...] = (),
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.details = details

    @property
    def field_violations(self) -> list[FieldViolation]:
        return [
            FieldViolation(violation.field, violation.description)
            for detail in self.details
            if isinstance(detail, error_details_pb2.BadRequest)
            for violation in detail.field_violations
        ]

    @property
    def retry_delay_seconds(self) -> float | None:
        """How long the server asked us to wait (RetryInfo), or None when it did not say."""
        for detail in self.details:
            if isinstance(detail, error_details_pb2.RetryInfo):
                return float(detail.retry_delay.ToNanoseconds()) / 1e9
        return None

    def one_line(self) -> str:
        """The error as one line for people: code, message and field violations."""
        violations = "; ".join(f"{item.field}: {item.description}" for item in self.field_violations)
        # Servers usually spell the violations out in the message already; don't say them twice.
        shown = violations and violations not in self.message
        return f"{self.code.name}: {self.message}" + (f" ({violations})" if shown else "")


class InvalidArgument(CerebroError): ...


class NotFound(CerebroError): ...


class AlreadyExists(CerebroError): ...


class FailedPrecondition(CerebroError): ...


class Aborted(CerebroError): ...


class Unauthenticated(CerebroError): ...


class PermissionDenied(CerebroError): ...


class ResourceExhausted(CerebroError): ...


class Unavailable(CerebroError): ...


class DeadlineExceeded(CerebroError): ...


_BY_CODE: dict[grpc.StatusCode, type[CerebroError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}

# The google.rpc detail types the mesh sends; others are kept as the packed Any.
_DETAIL_TYPES = (
    error_details_pb2.BadRequest,
    error_details_pb2.RetryInfo,
    error_details_pb2.ErrorInfo,
    error_details_pb2.PreconditionFailure,
    error_details_pb2.QuotaFailure,
    error_details_pb2.ResourceInfo,
    error_details_pb2.DebugInfo,
)


def _unpack(status: status_pb2.Status) -> tuple[object, ...]:
    unpacked: list[object] = []
    for packed in status.details:
        for detail_type in _DETAIL_TYPES:
            if packed.Is(detail_type.DESCRIPTOR):
                detail = detail_type()
                packed.Unpack(detail)
                unpacked.append(detail)
                break
        else:
            unpacked.append(packed)
    return tuple(unpacked)


def from_rpc_error(error: grpc.aio.AioRpcError) -> CerebroError:
    """The typed exception for a failed call (CerebroError itself for codes without a subclass)."""
    # grpc.aio's error has the three methods from_call reads (code, details, trailing_metadata).
    status = rpc_status.from_call(cast(grpc.Call, error))
    details = _unpack(status) if status is not None else ()
    error_type = _BY_CODE.get(error.code(), CerebroError)
    return error_type(error.code(), error.details() or "", details)
