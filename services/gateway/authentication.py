"""Authentication of every AgentGateway call, as a server interceptor that hands the caller to the method.

For each call of AgentGateway, the interceptor admits the caller with
:class:`services.gateway.auth.CallGuard`, by the access level the method declares in gateway.proto
(:mod:`services.gateway.access`), then runs the method inside :func:`services.gateway.call.serving`:
the method reads its caller and deadline with :func:`services.gateway.call.current_call`. A stream
also holds one of its credential's stream slots while it runs. Health and reflection, other services
of the same server, pass untouched and so stay unauthenticated.

``ServiceHost.add_interceptor`` runs it inside the host's error mapping, so a refusal is a status with
details (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED with RetryInfo), and before the
request's edge check, so a refused caller learns nothing about its input.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import Any

import grpc

from cerebro.forwarded_client import FORWARDED_CLIENT_METADATA
from cerebro.runtime.interceptors import ObservingInterceptor
from services.gateway.access import METHOD_ACCESS, SERVICE
from services.gateway.auth import CallGuard
from services.gateway.call import Call, Deadline, serving
from services.gateway.store.credentials import Principal

_PREFIX = f"/{SERVICE.full_name}/"
_STREAMING = frozenset(method.name for method in SERVICE.methods if method.server_streaming)


def peer_address(peer: str) -> str:
    """The address in a gRPC peer string: "ipv4:10.0.0.5:4321" -> "10.0.0.5", "ipv6:[::1]:80" -> "::1"."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        host = rest.rpartition(":")[0]
        return host.removeprefix("[").removesuffix("]") or rest
    return peer


class AuthenticationInterceptor(ObservingInterceptor):
    def __init__(
        self,
        guard: CallGuard,
        *,
        default_timeout: float,
        trust_client_certificates: bool,
        forwarding_proofs: Sequence[str] = (),
    ) -> None:
        """``trust_client_certificates``: whether the server verified them (mutual TLS); ``forwarding_proofs``:
        the secrets with which the faces in front of the gateway (its own HTTP face, an MCP face) pass on
        their clients' addresses (:mod:`cerebro.forwarded_client`)."""
        super().__init__(self._authenticated)
        self._guard = guard
        self._default_timeout = default_timeout
        self._trust_client_certificates = trust_client_certificates
        self._forwarding_proofs = tuple(forwarding_proofs)

    @asynccontextmanager
    async def _authenticated(self, method: str, context: grpc.aio.ServicerContext, request: Any) -> AsyncIterator[None]:
        if not method.startswith(_PREFIX):
            yield
            return
        name = method.removeprefix(_PREFIX)
        metadata = context.invocation_metadata() or ()
        principal = await self._guard.admit(
            name, METHOD_ACCESS[name], metadata, self._identities(context), self._peer(context, metadata)
        )
        call = Call(principal, Deadline.after(context.time_remaining(), self._default_timeout))
        with serving(call), self._stream_slot(name, principal):
            yield

    def _stream_slot(self, name: str, principal: Principal | None) -> AbstractContextManager[None]:
        if name in _STREAMING and principal is not None:
            return self._guard.streams.slot(principal)
        return nullcontext()

    def _peer(self, context: grpc.aio.ServicerContext, metadata: Iterable[tuple[str, str | bytes]]) -> str:
        """The client's address: the one a face in front of the gateway names with a proof, else the connection's."""
        for key, value in metadata:
            if key == FORWARDED_CLIENT_METADATA and isinstance(value, str):
                proof, _, address = value.partition(" ")
                if address and self._proven(proof):
                    return address
        return peer_address(context.peer() or "")

    def _proven(self, proof: str) -> bool:
        # Every proof is compared, so the time taken does not say which one nearly matched.
        matches = [hmac.compare_digest(proof.encode(), known.encode()) for known in self._forwarding_proofs]
        return any(matches)

    def _identities(self, context: grpc.aio.ServicerContext) -> list[str]:
        # Only a server that requires client certificates has verified them.
        if not self._trust_client_certificates:
            return []
        return [identity.decode("utf-8", "replace") for identity in context.peer_identities() or ()]
