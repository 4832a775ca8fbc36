"""Authentication, authorisation and rate limiting of every AgentGateway call.

:class:`CallGuard` admits a call: it finds the caller's credential (a bearer API key in the
``authorization`` metadata, else a mutual-TLS client certificate identity), refuses writing methods
to read-only credentials, and charges the credential's token bucket. It is independent of gRPC, so
the HTTP/JSON face admits its requests with the same guard.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

from cerebro.runtime.errors import permission_denied, resource_exhausted, unauthenticated
from services.gateway.credentials import CredentialStore, Principal, Scope, StoredKey, parse_token, secret_matches


class Access(enum.Enum):
    PUBLIC = "public"  # no credentials
    READ = "read"  # any credential
    WRITE = "write"  # read-write credentials only


# Every AgentGateway method; a test checks that none is missing.
METHOD_ACCESS: dict[str, Access] = {
    "Remember": Access.WRITE,
    "Recall": Access.READ,
    "ListRecentEpisodes": Access.READ,
    "ListWorkingMemoryItems": Access.READ,
    "GetWorkingMemoryItem": Access.READ,
    "PutWorkingMemoryItem": Access.WRITE,
    "ListMemoryBlocks": Access.READ,
    "GetMemoryBlock": Access.READ,
    "CreateMemoryBlock": Access.WRITE,
    "UpdateMemoryBlock": Access.WRITE,
    "CreateCheckpoint": Access.WRITE,
    "RestoreCheckpoint": Access.READ,  # returns a checkpoint and a comparison; changes nothing
    "GetIdentityState": Access.READ,
    "UpdateIdentityState": Access.WRITE,
    "Heartbeat": Access.WRITE,
    "UpsertKnowledge": Access.WRITE,
    "SearchKnowledge": Access.READ,
    "ListConnectedInstances": Access.READ,
    "RegisterInstance": Access.WRITE,
    "RenewInstanceLease": Access.WRITE,
    "DeregisterInstance": Access.WRITE,
    "Propose": Access.WRITE,
    "Vote": Access.WRITE,
    "GetDecision": Access.READ,
    "WatchDecisions": Access.READ,
    "PublishLearning": Access.WRITE,
    # Subscribing makes the gateway store every learning in the subscriber's namespace: a write.
    "SubscribeLearnings": Access.WRITE,
    "AcknowledgeLearnings": Access.WRITE,
    "GetSharedEmotionalState": Access.READ,
    "UpdateSharedEmotionalState": Access.WRITE,
    "DistributeTask": Access.WRITE,
    "GetStats": Access.READ,
    "GetHealth": Access.PUBLIC,
}

Clock = Callable[[], float]
K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values trusted for ``seconds`` (nothing is kept when it is 0)."""

    def __init__(self, seconds: float, clock: Clock) -> None:
        self._seconds = seconds
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if self._seconds > 0:
            self._entries[key] = (self._clock() + self._seconds, value)

    def discard(self, predicate: Callable[[K], bool]) -> None:
        for key in [key for key in self._entries if predicate(key)]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()


class Authenticator:
    """Credentials to principals, and grants, with a short cache that notifications invalidate."""

    def __init__(self, store: CredentialStore, cache_seconds: float, clock: Clock = time.monotonic) -> None:
        self._store = store
        self._keys: TtlCache[str, StoredKey] = TtlCache(cache_seconds, clock)
        self._certificates: TtlCache[tuple[str, ...], Principal] = TtlCache(cache_seconds, clock)
        self._grants: TtlCache[str, frozenset[str]] = TtlCache(cache_seconds, clock)

    async def from_token(self, token: str) -> Principal:
        parsed = parse_token(token)
        if parsed is None:
            raise unauthenticated("malformed API key")
        key_id, secret = parsed
        stored = self._keys.get(key_id)
        if stored is None:
            stored = await self._store.key(key_id)
            if stored is None:
                raise unauthenticated("unknown or revoked API key")
            self._keys.put(key_id, stored)
        if not secret_matches(secret, stored.secret_sha256):
            raise unauthenticated("unknown or revoked API key")
        return stored.principal

    async def from_certificate(self, identities: Sequence[str]) -> Principal:
        key = tuple(identities)
        principal = self._certificates.get(key)
        if principal is None:
            principal = await self._store.certificate(list(identities))
            if principal is None:
                raise unauthenticated(f"the client certificate ({', '.join(identities)}) is not bound to a namespace")
            self._certificates.put(key, principal)
        return principal

    async def readable_namespace(self, principal: Principal, requested: str) -> str:
        """The namespace a read works on: the caller's own when ``requested`` is empty, else a granted one."""
        if not requested or requested == principal.namespace:
            return principal.namespace
        granted = self._grants.get(principal.namespace)
        # A refusal is never served from the cache: a grant made a moment ago must work at once, while
        # revocations reach the cache by notification.
        if granted is None or requested not in granted:
            granted = await self._store.readable_namespaces(principal.namespace)
            self._grants.put(principal.namespace, granted)
        if requested not in granted:
            raise permission_denied(f"namespace {principal.namespace!r} has no read grant for {requested!r}")
        return requested

    def invalidate(self, payload: str) -> None:
        """Forget what a credentials notification says changed ("key:<id>", "cert:<identity>", "grants:<ns>")."""
        kind, _, subject = payload.partition(":")
        if kind == "key":
            self._keys.discard(lambda key_id: key_id == subject)
        elif kind == "cert":
            self._certificates.discard(lambda identities: subject in identities)
        elif kind == "grants":
            self._grants.discard(lambda grantee: grantee == subject)

    def clear(self) -> None:
        """Forget everything (notifications may have been missed)."""
        self._keys.clear()
        self._certificates.clear()
        self._grants.clear()


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; each call takes one."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = now

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one is available."""
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate


class RateLimiter:
    """One token bucket per credential, in this process (each gateway replica limits on its own)."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def charge(self, principal: Principal) -> None:
        """Take a token for ``principal``; RESOURCE_EXHAUSTED with RetryInfo when its bucket is empty."""
        rate = principal.rate_per_second or self._rate
        burst = principal.burst or self._burst
        now = self._clock()
        bucket = self._buckets.get(principal.credential_id)
        if bucket is None or (bucket.rate, bucket.burst) != (rate, burst):
            bucket = self._buckets[principal.credential_id] = TokenBucket(rate, burst, now)
        wait = bucket.take(now)
        if wait > 0:
            # Whole milliseconds, rounded up: retrying at the advertised time must succeed.
            retry_after = math.ceil(wait * 1000) / 1000
            raise resource_exhausted(
                f"rate limit of {rate:g} calls per second (burst {burst}) exceeded; retry in {retry_after:.3f} s",
                retry_after,
            )


Metadata = Iterable[tuple[str, str | bytes]]


class CallGuard:
    """Admits a call to an AgentGateway method, or raises UNAUTHENTICATED / PERMISSION_DENIED / RESOURCE_EXHAUSTED."""

    def __init__(self, authenticator: Authenticator, limiter: RateLimiter) -> None:
        self.authenticator = authenticator
        self._limiter = limiter

    async def admit(self, method: str, metadata: Metadata, peer_identities: Sequence[str]) -> Principal | None:
        """The caller of ``method``, or None for a public method.

        ``peer_identities`` are the identities of a client certificate verified by mutual TLS (empty
        without one); a bearer key, when sent, takes precedence over them.
        """
        access = METHOD_ACCESS[method]
        if access is Access.PUBLIC:
            return None
        token = bearer_token(metadata)
        if token is not None:
            principal = await self.authenticator.from_token(token)
        elif peer_identities:
            principal = await self.authenticator.from_certificate(peer_identities)
        else:
            raise unauthenticated("credentials required: send 'authorization: Bearer <API key>'")
        self._limiter.charge(principal)
        if access is Access.WRITE and principal.scope is Scope.READ_ONLY:
            raise permission_denied(f"{method} writes, and this credential is read-only")
        return principal


def bearer_token(metadata: Metadata) -> str | None:
    """The token of an ``authorization: Bearer <token>`` entry; UNAUTHENTICATED for another scheme."""
    for key, value in metadata:
        if key.lower() != "authorization":
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        scheme, _, token = text.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated("the authorization metadata must be 'Bearer <API key>'")
        return token.strip()
    return None
