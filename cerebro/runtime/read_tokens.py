"""Read tokens on the server side (the tokens themselves: :mod:`cerebro.read_tokens`).

A service that serves reads from a replica, or that calls one that does, adds :func:`read_tokens_interceptor`:
it reads the caller's ``x-cerebro-min-lsn`` into the call's context and answers ``x-cerebro-lsn`` when the
call wrote. Inside the call, :func:`required_token` is what a replica must have replayed to serve a read
and :func:`note_write` records a write. A service that forwards calls to such a service puts
:class:`ForwardReadTokens` on that channel: the call's token goes down with each call and each answer's
token is noted as a write of the call. No method handles metadata itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import grpc

from cerebro.read_tokens import REQUIRED_HEADER, WRITTEN_HEADER, ReadToken, header_token, later
from cerebro.runtime.errors import invalid_argument
from cerebro.runtime.interceptors import Context, ObservingInterceptor


@dataclass
class _CallTokens:
    required: ReadToken | None
    written: ReadToken | None = None


_call: ContextVar[_CallTokens | None] = ContextVar("cerebro_read_tokens", default=None)


def required_token() -> ReadToken | None:
    """The token the current call must see: the one it brought, or its own latest write."""
    tokens = _call.get()
    return None if tokens is None else tokens.required


def note_write(token: ReadToken) -> None:
    """Record a write of the current call; its token goes back to the caller."""
    tokens = _call.get()
    if tokens is not None:
        tokens.written = later(tokens.written, token)
        # A later read of the same call must see the call's own write too.
        tokens.required = later(tokens.required, token)


def _required_from(context: Context) -> ReadToken | None:
    """The caller's token; a malformed one is refused, since ignoring it would silently lose the caller's write."""
    found: ReadToken | None = None
    for key, value in context.invocation_metadata() or ():
        if key == REQUIRED_HEADER:
            token = ReadToken.parse(value if isinstance(value, str) else value.decode(errors="replace"))
            if token is None:
                raise invalid_argument([(REQUIRED_HEADER, "must be a read token such as 0/3000148:752")])
            found = later(found, token)
    return found


@asynccontextmanager
async def _carry(method: str, context: Context, request: Any) -> AsyncIterator[None]:
    tokens = _CallTokens(_required_from(context))
    reset = _call.set(tokens)
    try:
        yield
    finally:
        _call.reset(reset)
    if tokens.written is not None:
        context.set_trailing_metadata(((WRITTEN_HEADER, str(tokens.written)),))


def read_tokens_interceptor() -> ObservingInterceptor:
    """The server interceptor that carries read tokens for every method of a service."""
    return ObservingInterceptor(_carry)


class ForwardReadTokens(grpc.aio.UnaryUnaryClientInterceptor):
    """On a channel to a service with read tokens: the call's token goes down, each answer's comes back up."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        required = required_token()
        if required is not None:
            metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
            metadata[REQUIRED_HEADER] = str(required)
            client_call_details = grpc.aio.ClientCallDetails(
                client_call_details.method,
                client_call_details.timeout,
                metadata,
                client_call_details.credentials,
                client_call_details.wait_for_ready,
            )
        call = await continuation(client_call_details, request)
        await call
        written = header_token(await call.trailing_metadata(), WRITTEN_HEADER)
        if written is not None:
            note_write(written)
        return call
