"""Server interceptors for what every RPC needs: error mapping and Prometheus metrics.

Tracing comes from OpenTelemetry's own gRPC interceptor (see :mod:`cerebro.runtime.server`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from grpc_status import rpc_status
from prometheus_client import Counter, Gauge, Histogram

from cerebro.runtime.errors import ServiceError, invalid_argument, unavailable

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "Time from receiving an RPC to completing it, by method.",
    ["grpc_service", "grpc_method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_FLIGHT = Gauge(
    "grpc_server_in_flight",
    "RPCs currently being handled, by method.",
    ["grpc_service", "grpc_method"],
)

# Failures of a dependency (not of the request): the client may retry them.
_DEPENDENCY_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    # AdminShutdownError and kin: PostgreSQL is restarting.
    asyncpg.OperatorInterventionError,
    # A connection broken mid-operation (e.g. by a restart) can leave asyncpg's protocol in a state it
    # reports as "cannot switch to state ...": the request did not complete, and a retry may.
    asyncpg.InternalClientError,
)

Observer = Callable[[str, grpc.aio.ServicerContext, Any], AbstractAsyncContextManager[None]]
"""``observe(method, context, request)``; ``request`` is None for client-streaming calls."""


def _split_method(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def _wrap(handler: grpc.RpcMethodHandler, method: str, observe: Observer) -> grpc.RpcMethodHandler:
    """Run every kind of RPC handler inside ``observe(method, context)``."""
    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        unary_unary = handler.unary_unary

        async def call_unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with observe(method, context, request):
                return await unary_unary(request, context)

        return grpc.unary_unary_rpc_method_handler(call_unary_unary, **serializers)
    if handler.stream_unary:
        stream_unary = handler.stream_unary

        async def call_stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            async with observe(method, context, None):
                return await stream_unary(requests, context)

        return grpc.stream_unary_rpc_method_handler(call_stream_unary, **serializers)

    stream_handler = handler.unary_stream or handler.stream_stream

    async def call_streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async with observe(method, context, request if handler.unary_stream else None):
            responses = stream_handler(request, context)
            if inspect.isawaitable(responses):
                # A handler that writes with context.write() instead of yielding (grpc_health's Watch).
                await responses
                return
            async for response in responses:
                yield response

    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(call_streaming, **serializers)
    return grpc.stream_stream_rpc_method_handler(call_streaming, **serializers)


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    """Runs every RPC, whatever its kind, inside an ``observe(method, context)`` context manager."""

    def __init__(self, observe: Observer) -> None:
        self._observe = observe

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return _wrap(handler, handler_call_details.method, self._observe)


@asynccontextmanager
async def map_errors(method: str, context: grpc.aio.ServicerContext, request: Any) -> AsyncIterator[None]:
    """Turns :class:`ServiceError` into a status with details; hides everything else as INTERNAL."""
    try:
        yield
    except ServiceError as error:
        await _abort(context, error)
    except (grpc.aio.AbortError, asyncio.CancelledError):
        raise
    except _DEPENDENCY_ERRORS as exc:
        log.warning("%s: dependency unavailable: %s", method, exc)
        await _abort(context, unavailable(f"a dependency is unavailable: {type(exc).__name__}"))
    except Exception:
        log.exception("%s: unhandled error", method)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")


async def _abort(context: grpc.aio.ServicerContext, error: ServiceError) -> None:
    status = rpc_status.to_status(error.to_status_proto())
    await context.abort(status.code, status.details, status.trailing_metadata)


@asynccontextmanager
async def record_metrics(method: str, context: grpc.aio.ServicerContext, request: Any) -> AsyncIterator[None]:
    """Counts RPCs by status code and times them, with an in-flight gauge."""
    service, name = _split_method(method)
    in_flight = IN_FLIGHT.labels(service, name)
    in_flight.inc()
    started = time.perf_counter()
    code = grpc.StatusCode.OK
    try:
        yield
    except asyncio.CancelledError:
        code = grpc.StatusCode.CANCELLED
        raise
    except BaseException:
        code = context.code() or grpc.StatusCode.UNKNOWN
        raise
    else:
        code = context.code() or grpc.StatusCode.OK
    finally:
        in_flight.dec()
        LATENCY.labels(service, name).observe(time.perf_counter() - started)
        REQUESTS.labels(service, name, _code_name(code)).inc()


@asynccontextmanager
async def reject_nul_characters(method: str, context: grpc.aio.ServicerContext, request: Any) -> AsyncIterator[None]:
    """Refuse text holding U+0000 anywhere in a request, naming the field: PostgreSQL cannot store it, and
    without this check it would surface deep inside a query as an internal error."""
    if isinstance(request, Message):
        violations = [(path, "must not contain the NUL character (U+0000)") for path in _nul_fields(request, "")]
        if violations:
            raise invalid_argument(violations)
    yield


def _nul_fields(message: Message, prefix: str) -> Iterator[str]:
    for field, value in message.ListFields():
        path = prefix + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    yield f"{path}[{key!r}]"
                yield from _nul_values(value_field, item, f"{path}[{key!r}]")
        elif field.is_repeated:
            for index, item in enumerate(value):
                yield from _nul_values(field, item, f"{path}[{index}]")
        else:
            yield from _nul_values(field, value, path)


def _nul_values(field: FieldDescriptor, value: Any, path: str) -> Iterator[str]:
    if field.type == FieldDescriptor.TYPE_STRING and "\x00" in value:
        yield path
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        yield from _nul_fields(value, path + ".")


def _code_name(code: grpc.StatusCode | int) -> str:
    if isinstance(code, grpc.StatusCode):
        return code.name
    for candidate in grpc.StatusCode:
        if candidate.value[0] == code:
            return candidate.name
    return "UNKNOWN"
