"""Calls of the gateway's gRPC methods over a channel, as a generic client built from the descriptors.

The HTTP face calls the gateway through its own gRPC port (on loopback) rather than the servicer in
process: authentication, rate limits, error mapping, metrics and tracing are then exactly those of a
gRPC client, by construction, and nothing here depends on how the gateway is put together.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf.message import Message

from services.gateway.http.fields import message_class
from services.gateway.http.routes import Route

Metadata = Sequence[tuple[str, str]]


class GrpcProxy:
    def __init__(self, channel: grpc.aio.Channel, routes: Sequence[Route]) -> None:
        self._unary: dict[str, grpc.aio.UnaryUnaryMultiCallable] = {}
        self._stream: dict[str, grpc.aio.UnaryStreamMultiCallable] = {}
        for route in routes:
            request_type = message_class(route.method.input_type)
            response_type = message_class(route.method.output_type)
            codec = {
                "request_serializer": request_type.SerializeToString,
                "response_deserializer": response_type.FromString,
            }
            if route.method.server_streaming:
                self._stream[route.grpc_path] = channel.unary_stream(route.grpc_path, **codec)
            else:
                self._unary[route.grpc_path] = channel.unary_unary(route.grpc_path, **codec)

    async def unary(self, route: Route, request: Message, *, timeout: float | None, metadata: Metadata) -> Message:
        """The response; grpc.aio.AioRpcError when the call fails."""
        response: Message = await self._unary[route.grpc_path](request, timeout=timeout, metadata=metadata)
        return response

    def stream(
        self, route: Route, request: Message, *, timeout: float | None, metadata: Metadata
    ) -> grpc.aio.UnaryStreamCall:
        return self._stream[route.grpc_path](request, timeout=timeout, metadata=metadata)
