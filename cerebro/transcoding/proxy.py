"""Calls of a service's gRPC methods over a channel, as a generic client built from the descriptors.

The transcoder calls the service through a gRPC channel (to its own process's port on loopback, for
the gateway) rather than a servicer in process: authentication, rate limits, error mapping, metrics
and tracing are then exactly those of a gRPC client, by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf.message import Message

from cerebro.transcoding.fields import message_class
from cerebro.transcoding.routes import Route

Metadata = Sequence[tuple[str, str]]


class GrpcProxy:
    def __init__(self, channel: grpc.aio.Channel, routes: Sequence[Route]) -> None:
        self._unary: dict[str, grpc.aio.UnaryUnaryMultiCallable[Message, Message]] = {}
        self._stream: dict[str, grpc.aio.UnaryStreamMultiCallable[Message, Message]] = {}
        for route in routes:
            serialize = message_class(route.method.input_type).SerializeToString
            deserialize = message_class(route.method.output_type).FromString
            if route.method.server_streaming:
                self._stream[route.grpc_path] = channel.unary_stream(
                    route.grpc_path, request_serializer=serialize, response_deserializer=deserialize
                )
            else:
                self._unary[route.grpc_path] = channel.unary_unary(
                    route.grpc_path, request_serializer=serialize, response_deserializer=deserialize
                )

    async def unary(
        self, route: Route, request: Message, *, timeout: float | None, metadata: Metadata
    ) -> tuple[Message, Metadata]:
        """The response and the call's trailing metadata; grpc.aio.AioRpcError when the call fails."""
        call = self._unary[route.grpc_path](request, timeout=timeout, metadata=metadata)
        response: Message = await call
        trailers = await call.trailing_metadata()
        return response, [(key, value) for key, value in trailers or () if isinstance(value, str)]

    def stream(
        self, route: Route, request: Message, *, timeout: float | None, metadata: Metadata
    ) -> grpc.aio.UnaryStreamCall[Message, Message]:
        return self._stream[route.grpc_path](request, timeout=timeout, metadata=metadata)
