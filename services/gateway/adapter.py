"""The gRPC face of the gateway: every AgentGateway method admitted by the guard, then run by the API.

``ServiceHost`` builds the server with a fixed set of interceptors, so authentication wraps the
servicer instead: each method of :class:`GrpcAdapter` admits its call, then awaits the API method.
Health and reflection are other services of the same server, and so stay unauthenticated. Errors
raised here (UNAUTHENTICATED, ...) are ServiceErrors, mapped to rich statuses by the host's interceptor.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import Message

from cerebro.gateway.v1 import gateway_pb2
from services.gateway.auth import CallGuard
from services.gateway.call import HTTP_CLIENT_METADATA, Call, Deadline, peer_address

SERVICE = gateway_pb2.DESCRIPTOR.services_by_name["AgentGateway"]

UnaryMethod = Callable[[Message, Call], Awaitable[Message]]
StreamMethod = Callable[[Message, Call], AsyncIterator[Message]]


class GrpcAdapter:
    """Has one attribute per AgentGateway RPC, as the generated ``add_AgentGatewayServicer_to_server`` expects."""

    def __init__(
        self,
        api: object,
        guard: CallGuard,
        *,
        default_timeout: float,
        trust_client_certificates: bool,
        http_face_proof: str | None = None,
    ) -> None:
        self._guard = guard
        self._default_timeout = default_timeout
        self._trust_client_certificates = trust_client_certificates
        self._http_face_proof = http_face_proof
        for method in SERVICE.methods:
            implementation = getattr(api, method.name)
            wrapped = (
                self._stream(method.name, implementation)
                if method.server_streaming
                else self._unary(method.name, implementation)
            )
            setattr(self, method.name, wrapped)

    async def _admit(self, method: str, context: grpc.aio.ServicerContext) -> Call:
        metadata = context.invocation_metadata() or ()
        principal = await self._guard.admit(method, metadata, self._identities(context), self._peer(context, metadata))
        return Call(principal, Deadline.after(context.time_remaining(), self._default_timeout))

    def _peer(self, context: grpc.aio.ServicerContext, metadata: Any) -> str:
        """The client's address: the HTTP client's for a call of our own HTTP face, else the connection's."""
        if self._http_face_proof is not None:
            for key, value in metadata:
                if key == HTTP_CLIENT_METADATA and isinstance(value, str):
                    proof, _, address = value.partition(" ")
                    if address and hmac.compare_digest(proof, self._http_face_proof):
                        return address
        return peer_address(context.peer() or "")

    def _identities(self, context: grpc.aio.ServicerContext) -> list[str]:
        # Only a server that requires client certificates has verified them.
        if not self._trust_client_certificates:
            return []
        return [identity.decode("utf-8", "replace") for identity in context.peer_identities() or ()]

    def _unary(self, method: str, implementation: UnaryMethod) -> Callable[[Any, grpc.aio.ServicerContext], Any]:
        async def handle(request: Message, context: grpc.aio.ServicerContext) -> Message:
            return await implementation(request, await self._admit(method, context))

        return handle

    def _stream(self, method: str, implementation: StreamMethod) -> Callable[[Any, grpc.aio.ServicerContext], Any]:
        async def handle(request: Message, context: grpc.aio.ServicerContext) -> AsyncIterator[Message]:
            call = await self._admit(method, context)
            with self._guard.streams.slot(call.caller):
                async for response in implementation(request, call):
                    yield response

        return handle
