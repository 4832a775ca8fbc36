"""The call an AgentGateway method serves: who calls, and until when.

The authentication interceptor (:mod:`services.gateway.authentication`) admits each call and runs the
method inside :func:`serving`; the method reads the call with :func:`current_call` or :func:`caller`.
A ContextVar carries it because the interceptor's wrapper awaits the method in the same task, so
the value is the call's own however many calls run at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import grpc

from cerebro.runtime.errors import ServiceError
from services.gateway.store.credentials import Principal


@dataclass(frozen=True)
class Deadline:
    """When the caller stops waiting (``time.monotonic()`` seconds), or None when it set no deadline."""

    expires_at: float | None
    # Time given to each downstream call when the caller set no deadline.
    default_timeout: float

    @classmethod
    def after(cls, seconds: float | None, default_timeout: float) -> Deadline:
        return cls(None if seconds is None else time.monotonic() + seconds, default_timeout)

    def remaining(self) -> float:
        """Seconds a downstream call may take now; DEADLINE_EXCEEDED when none are left."""
        if self.expires_at is None:
            return self.default_timeout
        left = self.expires_at - time.monotonic()
        if left <= 0:
            raise ServiceError(grpc.StatusCode.DEADLINE_EXCEEDED, "the call's deadline passed")
        return left

    def allows_wait(self, seconds: float) -> bool:
        """Whether waiting ``seconds`` still leaves time for another attempt."""
        return self.expires_at is None or time.monotonic() + seconds < self.expires_at


@dataclass(frozen=True)
class Call:
    # None only for the methods that need no credentials (GetHealth).
    principal: Principal | None
    deadline: Deadline

    @property
    def caller(self) -> Principal:
        """The authenticated caller of a method that requires credentials."""
        if self.principal is None:
            raise RuntimeError("a method that needs no credentials asked for its caller")
        return self.principal


_current: ContextVar[Call] = ContextVar("cerebro_gateway_call")


@contextmanager
def serving(call: Call) -> Iterator[None]:
    """Make ``call`` the current call for the block (the interceptor runs each method inside one)."""
    token = _current.set(call)
    try:
        yield
    finally:
        _current.reset(token)


def current_call() -> Call:
    """The admitted call this method serves."""
    call = _current.get(None)
    if call is None:
        raise RuntimeError("no AgentGateway call is being served here (is the authentication interceptor installed?)")
    return call


def caller() -> Principal:
    """The authenticated caller of the method being served."""
    return current_call().caller
