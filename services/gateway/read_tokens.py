"""Read-your-writes through the gateway: the caller's read token goes down to the memory service, and
the tokens of the memory service's writes come back up (:mod:`cerebro.read_tokens`).

A server interceptor (:func:`read_tokens_interceptor`) takes the caller's ``x-cerebro-min-lsn`` into
a ContextVar for the call and answers ``x-cerebro-lsn`` when the call wrote; a client interceptor on
the memory channels (:class:`ForwardReadTokens`) sends the call's token with every memory call and
records the token each answers, so a method that writes then reads sees its own write too. No method
handles metadata itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import grpc

from cerebro.read_tokens import REQUIRED_HEADER, WRITTEN_HEADER, ReadToken, header_token, later
from cerebro.runtime.interceptors import Context, ObservingInterceptor


@dataclass
class _CallTokens:
    required: ReadToken | None
    written: ReadToken | None = None


_call: ContextVar[_CallTokens | None] = ContextVar("cerebro_gateway_read_tokens", default=None)


@asynccontextmanager
async def carry_read_tokens(method: str, context: Context, request: Any) -> AsyncIterator[None]:
    tokens = _CallTokens(header_token(context.invocation_metadata(), REQUIRED_HEADER))
    reset = _call.set(tokens)
    try:
        yield
    finally:
        _call.reset(reset)
    if tokens.written is not None:
        context.set_trailing_metadata(((WRITTEN_HEADER, str(tokens.written)),))


def read_tokens_interceptor() -> ObservingInterceptor:
    """The server interceptor that carries read tokens for every AgentGateway method."""
    return ObservingInterceptor(carry_read_tokens)


class ForwardReadTokens(grpc.aio.UnaryUnaryClientInterceptor):
    """On a memory channel: the current call's token goes with each unary call, and its answer's comes back."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        tokens = _call.get()
        if tokens is not None and tokens.required is not None:
            metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
            metadata[REQUIRED_HEADER] = str(tokens.required)
            client_call_details = grpc.aio.ClientCallDetails(
                client_call_details.method,
                client_call_details.timeout,
                metadata,
                client_call_details.credentials,
                client_call_details.wait_for_ready,
            )
        call = await continuation(client_call_details, request)
        await call
        if tokens is not None:
            written = header_token(await call.trailing_metadata(), WRITTEN_HEADER)
            if written is not None:
                tokens.written = later(tokens.written, written)
                tokens.required = later(tokens.required, written)
        return call
