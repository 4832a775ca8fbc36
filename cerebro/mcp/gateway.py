"""The gateway client that serves each MCP message: the agent's own over stdio, the caller's over HTTP.

Over stdio the server is the agent's process and calls with its API key (CEREBRO_API_KEY(_FILE)). Over
HTTP it holds no key: each request's bearer token is an API key, checked by the gateway, and the calls of
that request go out with it. A middleware binds the right client to the message being handled, so tools
and resources just ask for :func:`current_client`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, Protocol

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from starlette.requests import Request

from cerebro.client import AgentSigner, AsyncCerebroClient, ClientSettings, PermissionDenied, Unauthenticated
from cerebro.forwarded_client import forwarded_client

# Clients kept for recent bearer tokens (each holds one channel to the gateway); older ones are closed.
DEFAULT_CLIENT_CAPACITY = 256
# How long a token the gateway accepted is admitted without asking again. The gateway still checks the
# token on every call made with it, so a revoked key gets nothing done meanwhile; this only spares each
# HTTP request a round trip.
DEFAULT_VERIFIED_SECONDS = 30.0

_current: ContextVar[AsyncCerebroClient | None] = ContextVar("cerebro_mcp_gateway_client", default=None)
# The address of the HTTP client whose request is being served: passed on to the gateway with the proof.
_client_address: ContextVar[str | None] = ContextVar("cerebro_mcp_client_address", default=None)


def current_client() -> AsyncCerebroClient:
    """The gateway client of the MCP message being handled."""
    client = _current.get()
    if client is None:
        raise RuntimeError("no gateway client is bound to this message (binding_middleware is not installed)")
    return client


class GatewayClients(Protocol):
    def for_message(self, request: object | None) -> AsyncCerebroClient:
        """The client for a message that arrived with ``request`` (the HTTP request; None over stdio)."""

    async def close(self) -> None: ...


def binding_middleware(clients: GatewayClients) -> ServerMiddleware[Any]:
    async def bind(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        bound = _current.set(clients.for_message(ctx.request))
        address = _client_address.set(client_address(ctx.request))
        try:
            return await call_next(ctx)
        finally:
            _client_address.reset(address)
            _current.reset(bound)

    return bind


class AgentClient:
    """Over stdio: one client, with the agent's own settings and key."""

    def __init__(self, settings: ClientSettings, signer: AgentSigner | None) -> None:
        self._client = AsyncCerebroClient(settings, signer=signer)

    def for_message(self, request: object | None) -> AsyncCerebroClient:
        return self._client

    async def close(self) -> None:
        await self._client.close()


class BearerClients:
    """Over HTTP: a client per bearer token (the caller's API key), kept while it is recently used."""

    def __init__(
        self,
        settings: ClientSettings,
        signer: AgentSigner | None,
        *,
        forwarding_proof: str | None = None,
        capacity: int = DEFAULT_CLIENT_CAPACITY,
        verified_seconds: float = DEFAULT_VERIFIED_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Whatever key the environment holds is never used: every call carries its caller's token.
        self._settings = replace(settings, api_key=None)
        self._signer = signer
        self._forwarding_proof = forwarding_proof
        self._capacity = capacity
        self._verified_seconds = verified_seconds
        self._clock = clock
        self._clients: OrderedDict[str, AsyncCerebroClient] = OrderedDict()
        self._verified_until: dict[str, float] = {}
        self._closing: dict[asyncio.Task[None], AsyncCerebroClient] = {}

    async def verify(self, token: str, address: str | None) -> AccessToken | None:
        """The token, sent from ``address``, as an MCP access token if the gateway accepts it, None if it
        refuses it.

        Raises the client's CerebroError when the gateway could not say (unavailable, rate limited).
        """
        digest = _digest(token)
        if self._verified_until.get(digest, 0.0) <= self._clock():
            bound = _client_address.set(address)
            try:
                await self._client(token, digest).list_blocks(page_size=1)
            except Unauthenticated:
                self._verified_until.pop(digest, None)
                await self._discard(digest)
                return None
            except PermissionDenied:
                pass  # a valid key that may not read blocks: its calls get what the gateway allows them
            finally:
                _client_address.reset(bound)
            self._verified_until[digest] = self._clock() + self._verified_seconds
        # The SDK binds each HTTP session to the client id that opened it: here, the key itself.
        return AccessToken(token=token, client_id=digest, scopes=[])

    def for_message(self, request: object | None) -> AsyncCerebroClient:
        user = request.scope.get("user") if isinstance(request, Request) else None
        if not isinstance(user, AuthenticatedUser):
            raise RuntimeError("an HTTP message reached the MCP server without a verified bearer token")
        token = user.access_token.token
        return self._client(token, _digest(token))

    async def close(self) -> None:
        clients = [*self._clients.values(), *self._closing.values()]
        for task in list(self._closing):
            task.cancel()
        self._clients.clear()
        for client in clients:
            await client.close()

    def _client(self, token: str, digest: str) -> AsyncCerebroClient:
        client = self._clients.get(digest)
        if client is None:
            client = AsyncCerebroClient(
                replace(self._settings, api_key=token), signer=self._signer, call_metadata=self._forwarded_client
            )
            self._clients[digest] = client
            while len(self._clients) > self._capacity:
                evicted_digest, evicted = self._clients.popitem(last=False)
                self._verified_until.pop(evicted_digest, None)
                self._close_later(evicted)
        else:
            self._clients.move_to_end(digest)
        return client

    def _forwarded_client(self) -> tuple[tuple[str, str], ...]:
        """With the proof, each call names its HTTP client to the gateway: failures count against that client."""
        address = _client_address.get()
        if self._forwarding_proof is None or address is None:
            return ()
        return (forwarded_client(self._forwarding_proof, address),)

    async def _discard(self, digest: str) -> None:
        client = self._clients.pop(digest, None)
        if client is not None:
            await client.close()

    def _close_later(self, client: AsyncCerebroClient) -> None:
        # An evicted client may still be serving a call: it is closed once that call's deadline has passed.
        async def close() -> None:
            await asyncio.sleep(client.settings.timeout_seconds)
            await client.close()

        task = asyncio.get_running_loop().create_task(close())
        self._closing[task] = client
        task.add_done_callback(lambda done: self._closing.pop(done, None))


def client_address(request: object | None) -> str | None:
    """The address of the HTTP client that sent ``request`` (None over stdio)."""
    client = request.client if isinstance(request, Request) else None
    return None if client is None else client.host


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
