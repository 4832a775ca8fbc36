"""Read-your-writes across the primary and a read replica, in the memory service (tokens:
:mod:`cerebro.read_tokens`).

A read that brings a token is served by the replica only once the replica has replayed the WAL up to
the token's position *and* applied its transaction's commit record: the position alone is not enough,
because the commit record is written after the statement that read the position (:mod:`services.memory.db`
waits, bounded, then reads the primary). A token without a transaction id (a write that wrote nothing,
such as an idempotent replay) is satisfied by the position alone: what it read was committed before.

The interceptor (:func:`read_tokens_interceptor`) reads the request's token into a ContextVar and sends the token
of the call's writes back, so no method handles metadata itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from cerebro.read_tokens import REQUIRED_HEADER, WRITTEN_HEADER, ReadToken, later
from cerebro.runtime.errors import invalid_argument
from cerebro.runtime.interceptors import Context, ObservingInterceptor


@dataclass
class _CallTokens:
    required: ReadToken | None
    written: ReadToken | None = None


_call: ContextVar[_CallTokens | None] = ContextVar("cerebro_memory_read_tokens", default=None)


def required_token() -> ReadToken | None:
    """The token the current call brought: what a replica must have replayed to serve it."""
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
    for key, value in context.invocation_metadata() or ():
        if key == REQUIRED_HEADER:
            token = ReadToken.parse(value if isinstance(value, str) else value.decode(errors="replace"))
            if token is None:
                raise invalid_argument([(REQUIRED_HEADER, "must be a read token such as 0/3000148:752")])
            return token
    return None


@asynccontextmanager
async def carry_read_tokens(method: str, context: Context, request: Any) -> AsyncIterator[None]:
    """Read the call's ``x-cerebro-min-lsn``; answer the token of its writes in ``x-cerebro-lsn``."""
    tokens = _CallTokens(_required_from(context))
    reset = _call.set(tokens)
    try:
        yield
    finally:
        _call.reset(reset)
    if tokens.written is not None:
        context.set_trailing_metadata(((WRITTEN_HEADER, str(tokens.written)),))


def read_tokens_interceptor() -> ObservingInterceptor:
    """The interceptor that carries read tokens for every method of the memory service."""
    return ObservingInterceptor(carry_read_tokens)
