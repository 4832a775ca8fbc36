"""A scripted gRPC service on a real grpc.aio server, to test the transcoder on its own.

Every method records its call (request, metadata, time remaining) and, unless a test scripts it,
answers a response with every field set (a stream: two of them). A script fails a call by raising
ServiceError: the server has the runtime's error interceptor, so statuses carry ``google.rpc``
details exactly as a Cerebro service's do. The service is AgentGateway's descriptor by default (its
HTTP rules use every feature of google.api.http); nothing of the gateway's code runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from cerebro.gateway.v1 import gateway_pb2
from cerebro.runtime.interceptors import ObservingInterceptor, map_errors
from cerebro.transcoding.fields import message_class
from tests.transcoding.samples import filled

SAMPLE_SERVICE = gateway_pb2.DESCRIPTOR.services_by_name["AgentGateway"]

UnaryScript = Callable[[Message, grpc.aio.ServicerContext], Awaitable[Message]]
StreamScript = Callable[[Message, grpc.aio.ServicerContext], AsyncIterator[Message]]


@dataclass
class RecordedCall:
    method: str
    request: Message
    metadata: list[tuple[str, str]]
    time_remaining: float | None

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.metadata if key == name]


@dataclass
class ScriptedServer:
    service: ServiceDescriptor = SAMPLE_SERVICE
    calls: list[RecordedCall] = field(default_factory=list)
    scripts: dict[str, Any] = field(default_factory=dict)

    def reset(self) -> None:
        self.calls.clear()
        self.scripts.clear()

    def last(self, method: str) -> RecordedCall:
        return [call for call in self.calls if call.method == method][-1]

    def generic_handler(self) -> grpc.GenericRpcHandler:
        handlers = {}
        for method in self.service.methods:
            codec = {
                "request_deserializer": message_class(method.input_type).FromString,
                "response_serializer": message_class(method.output_type).SerializeToString,
            }
            if method.server_streaming:
                handlers[method.name] = grpc.unary_stream_rpc_method_handler(self._stream(method.name), **codec)
            else:
                handlers[method.name] = grpc.unary_unary_rpc_method_handler(self._unary(method.name), **codec)
        return grpc.method_handlers_generic_handler(self.service.full_name, handlers)

    def _record(self, name: str, request: Message, context: grpc.aio.ServicerContext) -> None:
        metadata = [(key, value) for key, value in context.invocation_metadata() or () if isinstance(value, str)]
        self.calls.append(RecordedCall(name, request, metadata, context.time_remaining()))

    def _unary(self, name: str) -> UnaryScript:
        output = self.service.methods_by_name[name].output_type

        async def handle(request: Message, context: grpc.aio.ServicerContext) -> Message:
            self._record(name, request, context)
            script = self.scripts.get(name)
            if script is not None:
                result: Message = await script(request, context)
                return result
            return filled(output)

        return handle

    def _stream(self, name: str) -> StreamScript:
        output = self.service.methods_by_name[name].output_type

        async def handle(request: Message, context: grpc.aio.ServicerContext) -> AsyncIterator[Message]:
            self._record(name, request, context)
            script = self.scripts.get(name)
            if script is not None:
                async for message in script(request, context):
                    yield message
                return
            for _ in range(2):
                yield filled(output)

        return handle


@asynccontextmanager
async def scripted_server() -> AsyncIterator[tuple[ScriptedServer, int]]:
    """A ScriptedServer serving on a loopback port; yields it and the port."""
    scripted = ScriptedServer()
    server = grpc.aio.server(interceptors=[ObservingInterceptor(map_errors)])
    server.add_generic_rpc_handlers((scripted.generic_handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield scripted, port
    finally:
        await server.stop(0)
