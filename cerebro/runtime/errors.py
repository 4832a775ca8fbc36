"""The error model (CONTRIBUTING.md, "Errors"): gRPC status codes with ``google.rpc`` details.

Servicers and storage code raise :class:`ServiceError`; the server's error interceptor turns it
into a rich status. Anything else becomes INTERNAL with no traceback for the client (the log keeps it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

FieldViolation = tuple[str, str]
"""(field path, description), e.g. ``("texts[3]", "must not be empty")``."""


class ServiceError(Exception):
    """An error the client should see, with its gRPC code and ``google.rpc`` details."""

    def __init__(self, code: grpc.StatusCode, message: str, details: Sequence[Message] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = tuple(details)

    def to_status_proto(self) -> status_pb2.Status:
        packed = []
        for detail in self.details:
            container = any_pb2.Any()
            container.Pack(detail)
            packed.append(container)
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=packed)


def invalid_argument(violations: Iterable[FieldViolation], message: str | None = None) -> ServiceError:
    items = list(violations)
    request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
            for field, description in items
        ]
    )
    summary = message or "; ".join(f"{field}: {description}" for field, description in items)
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, summary or "invalid argument", [request])


def not_found(resource_type: str, name: str) -> ServiceError:
    info = error_details_pb2.ResourceInfo(resource_type=resource_type, resource_name=name)
    return ServiceError(grpc.StatusCode.NOT_FOUND, f"{resource_type} {name!r} not found", [info])


def already_exists(resource_type: str, name: str, message: str | None = None) -> ServiceError:
    info = error_details_pb2.ResourceInfo(resource_type=resource_type, resource_name=name)
    return ServiceError(grpc.StatusCode.ALREADY_EXISTS, message or f"{resource_type} {name!r} already exists", [info])


def failed_precondition(message: str, violation_type: str = "", subject: str = "") -> ServiceError:
    failure = error_details_pb2.PreconditionFailure(
        violations=[
            error_details_pb2.PreconditionFailure.Violation(type=violation_type, subject=subject, description=message)
        ]
    )
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, message, [failure])


def aborted(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.ABORTED, message)


def permission_denied(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.PERMISSION_DENIED, message)


def unauthenticated(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, message)


def _retry_info(retry_after_seconds: float) -> error_details_pb2.RetryInfo:
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int(retry_after_seconds * 1e9))
    return error_details_pb2.RetryInfo(retry_delay=delay)


def resource_exhausted(message: str, retry_after_seconds: float) -> ServiceError:
    return ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, message, [_retry_info(retry_after_seconds)])


def unavailable(message: str, retry_after_seconds: float = 1.0) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, message, [_retry_info(retry_after_seconds)])
