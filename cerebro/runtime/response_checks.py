"""Client interceptors that turn a response this process cannot decode into a clean gRPC error.

grpc.aio hands the caller ``None`` when a response fails to deserialise (corrupt, or nested deeper
than the protobuf decoder allows), and the failure then surfaces far away as an ``AttributeError``.
With these interceptors on a channel, the call fails at once with :class:`UndecodableResponse`:
INTERNAL, naming the method.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import grpc


class UndecodableResponse(grpc.aio.AioRpcError):
    """A response, or one message of a response stream, that could not be decoded."""

    def __init__(self, method: str | bytes) -> None:
        name = method.decode("utf-8", "replace") if isinstance(method, bytes) else method
        super().__init__(
            grpc.StatusCode.INTERNAL,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            details=f"the response of {name} could not be decoded",
            debug_error_string="",
        )


class DecodedUnaryResponses(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        call = await continuation(client_call_details, request)
        response = await call
        if response is None:
            raise UndecodableResponse(client_call_details.method)
        # The call itself, not its response: the caller may want its metadata (the memory service's read token).
        return call


class DecodedStreamResponses(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        call = await continuation(client_call_details, request)
        return _decoded(call, client_call_details.method)


async def _decoded(call: AsyncIterator[Any], method: str | bytes) -> AsyncIterator[Any]:
    async for response in call:
        if response is None:
            raise UndecodableResponse(method)
        yield response


def decoding_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """One interceptor per kind of call (grpc.aio registers an interceptor for one kind only)."""
    # The stubs leave ClientInterceptor open (a union of the four kinds): each of ours is one of them.
    return [
        cast(grpc.aio.ClientInterceptor, DecodedUnaryResponses()),
        cast(grpc.aio.ClientInterceptor, DecodedStreamResponses()),
    ]
