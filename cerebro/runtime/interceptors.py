"""Server interceptors for what every RPC needs: error mapping, Prometheus metrics and the edge check.

Tracing comes from OpenTelemetry's own gRPC interceptor (see :mod:`cerebro.runtime.server`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import grpc
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message
from grpc_status import rpc_status
from prometheus_client import Counter, Gauge, Histogram

from cerebro.runtime.errors import ServiceError, invalid_argument, unavailable
from cerebro.runtime.safe_values import unsafe_values
from cerebro.runtime.undecodable import blamed_field

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

# typeshed makes these gRPC classes generic; at run time they are not, so they are subscripted for mypy only.
if TYPE_CHECKING:
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
    # typeshed describes method handlers as a synchronous server sees them; grpc.aio's hold coroutine functions.
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:
    Context = grpc.aio.ServicerContext
    Handler = grpc.RpcMethodHandler
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]
Observer = Callable[[str, Context, Any], AbstractAsyncContextManager[None]]
"""``observe(method, context, request)``; ``request`` is None for client-streaming calls."""


def _split_method(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def _wrap(
    handler: Handler,
    method: str,
    observe: Observer,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Handler:
    """Run every kind of RPC handler inside ``observe(method, context)``.

    With ``request_deserializer`` (see :class:`CheckedRequests`), streamed requests are also checked
    one by one as the handler reads them.
    """
    serializers: dict[str, Any] = {
        "request_deserializer": request_deserializer or handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    functions: Any = handler

    def requests_of(requests: Any) -> Any:
        return requests if request_deserializer is None else _checked_stream(requests)

    if functions.unary_unary:
        unary_unary = functions.unary_unary

        async def call_unary_unary(request: Any, context: Context) -> Any:
            async with observe(method, context, request):
                return await unary_unary(request, context)

        return grpc.unary_unary_rpc_method_handler(call_unary_unary, **serializers)
    if functions.stream_unary:
        stream_unary = functions.stream_unary

        async def call_stream_unary(requests: Any, context: Context) -> Any:
            async with observe(method, context, None):
                return await stream_unary(requests_of(requests), context)

        return grpc.stream_unary_rpc_method_handler(call_stream_unary, **serializers)

    stream_handler = functions.unary_stream or functions.stream_stream
    unary = functions.unary_stream is not None

    async def call_streaming(request: Any, context: Context) -> AsyncIterator[Any]:
        async with observe(method, context, request if unary else None):
            responses = stream_handler(request if unary else requests_of(request), context)
            if inspect.isawaitable(responses):
                # A handler that writes with context.write() instead of yielding (grpc_health's Watch).
                await responses
                return
            async for response in responses:
                yield response

    if unary:
        return grpc.unary_stream_rpc_method_handler(call_streaming, **serializers)
    return grpc.stream_stream_rpc_method_handler(call_streaming, **serializers)


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    """Runs every RPC, whatever its kind, inside an ``observe(method, context)`` context manager."""

    def __init__(self, observe: Observer) -> None:
        self._observe = observe

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return _wrap(handler, handler_call_details.method, self._observe)


@asynccontextmanager
async def map_errors(method: str, context: Context, request: Any) -> AsyncIterator[None]:
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


async def _abort(context: Context, error: ServiceError) -> None:
    status = rpc_status.to_status(error.to_status_proto())
    await context.abort(status.code, status.details, status.trailing_metadata)


@asynccontextmanager
async def record_metrics(method: str, context: Context, request: Any) -> AsyncIterator[None]:
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
        code = _current_code(context) or grpc.StatusCode.UNKNOWN
        raise
    else:
        code = _current_code(context) or grpc.StatusCode.OK
    finally:
        in_flight.dec()
        LATENCY.labels(service, name).observe(time.perf_counter() - started)
        REQUESTS.labels(service, name, _code_name(code)).inc()


def _current_code(context: Context) -> grpc.StatusCode | None:
    """The code the call ended with so far; None while nothing set one (the stubs say it is never None)."""
    code: grpc.StatusCode | None = context.code()
    return code


class CheckedRequests(grpc.aio.ServerInterceptor):
    """The edge check of every request, before any handler runs: it must decode, and hold only values
    every service accepts (:mod:`cerebro.runtime.safe_values`); else INVALID_ARGUMENT naming the field.

    gRPC deserialises a request before calling the handler, and answers UNKNOWN (with the decoder's
    exception in the message) when that fails. The deserializer is therefore wrapped: a request that
    does not decode becomes an :class:`Undecodable` marker, which the wrapped handler refuses. It must
    be the innermost interceptor, so that the error mapping around it turns the refusal into a status.
    """

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method = handler_call_details.method
        return _wrap(handler, method, check_request, _tolerant(handler.request_deserializer, method))


@dataclass(frozen=True)
class Undecodable:
    """What the request deserializer returns for bytes that are not a valid request message."""

    method: str
    data: bytes
    descriptor: Descriptor | None

    def error(self) -> ServiceError:
        blamed = blamed_field(self.descriptor, self.data) if self.descriptor is not None else None
        if blamed is not None:
            return invalid_argument([blamed])
        return invalid_argument(
            [("", "is not a valid request message: corrupt, text that is not UTF-8, or nested too deeply")],
            f"the request to {self.method} cannot be decoded: it is corrupt, holds text that is not UTF-8, "
            "or nests messages deeper than the decoder allows",
        )


def _tolerant(deserialize: Callable[[bytes], Any], method: str) -> Callable[[bytes], Any]:
    # Generated stubs deserialize with the request class's FromString: its class names the type.
    descriptor = getattr(getattr(deserialize, "__self__", None), "DESCRIPTOR", None)

    def tolerant(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:  # any failure to decode is the client's input, not ours
            return Undecodable(method, data, descriptor if isinstance(descriptor, Descriptor) else None)

    return tolerant


async def _checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Undecodable):
            raise request.error()
        check_values(request)
        yield request


@asynccontextmanager
async def check_request(method: str, context: Context, request: Any) -> AsyncIterator[None]:
    """Refuse an undecodable request, or one holding values no service accepts, naming the fields."""
    if isinstance(request, Undecodable):
        raise request.error()
    check_values(request)
    yield


def check_values(request: Any) -> None:
    if isinstance(request, Message):
        violations = unsafe_values(request)
        if violations:
            raise invalid_argument(violations)


def _code_name(code: grpc.StatusCode | int) -> str:
    if isinstance(code, grpc.StatusCode):
        return code.name
    for candidate in grpc.StatusCode:
        if candidate.value[0] == code:
            return candidate.name
    return "UNKNOWN"
