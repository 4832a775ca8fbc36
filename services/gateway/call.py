"""What the gateway's API methods know about the call they serve: who calls, and until when.

The gRPC adapter builds a :class:`Call` from the servicer context; the HTTP/JSON face builds one
from its request, so both faces run the same API methods.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc

from cerebro.runtime.errors import ServiceError
from services.gateway.credentials import Principal

# Metadata the gateway's own HTTP face adds to each call: "<proof> <client address>", where the
# proof is a secret of the process (Gateway.http_face_proof). Anyone else sending it is ignored.
HTTP_CLIENT_METADATA = "x-cerebro-http-client"


def peer_address(peer: str) -> str:
    """The address in a gRPC peer string: "ipv4:10.0.0.5:4321" -> "10.0.0.5", "ipv6:[::1]:80" -> "::1"."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        host = rest.rpartition(":")[0]
        return host.removeprefix("[").removesuffix("]") or rest
    return peer


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
        assert self.principal is not None, "an authenticated method was called without a principal"
        return self.principal
