"""Authentication, authorisation and rate limiting of every AgentGateway call.

:class:`CallGuard` admits a call: it finds the caller's credential (a bearer API key in the
``authorization`` metadata, else a mutual-TLS client certificate identity), refuses writing methods
to read-only credentials, and charges the credential's token bucket. Authentication failures are
limited per client address, unknown key ids are remembered for a few seconds, and each credential
may hold only so many streams open. The guard sees only metadata, certificate identities and the
client's address; the interceptor of :mod:`services.gateway.authentication` gives it those.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

import grpc

from cerebro.runtime.errors import ServiceError, permission_denied, resource_exhausted, unauthenticated
from services.gateway.access import PUBLIC, WRITE, Access
from services.gateway.store.credentials import (
    CredentialStore,
    Principal,
    Scope,
    StoredKey,
    parse_token,
    secret_matches,
)

Clock = Callable[[], float]
# How soon a credential refused a stream may try again.
STREAM_RETRY_SECONDS = 5.0
K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values trusted for ``seconds`` (nothing is kept when it is 0), at most ``max_entries`` of them:
    when full, expired entries go first, then the oldest."""

    def __init__(self, seconds: float, clock: Clock, max_entries: int = 100_000) -> None:
        self._seconds = seconds
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if self._seconds <= 0:
            return
        now = self._clock()
        if key not in self._entries and len(self._entries) >= self._max_entries:
            self.discard_expired(now)
            if len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]
        self._entries[key] = (now + self._seconds, value)

    def discard_expired(self, now: float) -> None:
        for key in [key for key, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]

    def discard(self, predicate: Callable[[K], bool]) -> None:
        for key in [key for key in self._entries if predicate(key)]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()


class Authenticator:
    """Credentials to principals, and grants, with a short cache that notifications invalidate."""

    def __init__(
        self,
        store: CredentialStore,
        cache_seconds: float,
        clock: Clock = time.monotonic,
        *,
        unknown_key_seconds: float = 5.0,
        max_unknown_keys: int = 100_000,
    ) -> None:
        self._store = store
        self._keys: TtlCache[str, StoredKey] = TtlCache(cache_seconds, clock)
        # Key ids PostgreSQL did not know a moment ago: asked again only after a few seconds, so that a
        # flood of made-up keys costs no lookups. Key ids are random, so no new key is held up by this.
        self._unknown_keys: TtlCache[str, bool] = TtlCache(unknown_key_seconds, clock, max_unknown_keys)
        self._certificates: TtlCache[tuple[str, ...], Principal] = TtlCache(cache_seconds, clock)
        self._grants: TtlCache[str, frozenset[str]] = TtlCache(cache_seconds, clock)

    async def from_token(self, token: str) -> Principal:
        parsed = parse_token(token)
        if parsed is None:
            raise unauthenticated("malformed API key")
        key_id, secret = parsed
        stored = self._keys.get(key_id)
        if stored is None:
            if self._unknown_keys.get(key_id):
                raise unauthenticated("unknown or revoked API key")
            stored = await self._store.key(key_id)
            if stored is None:
                self._unknown_keys.put(key_id, True)
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
            self._unknown_keys.discard(lambda key_id: key_id == subject)
        elif kind == "cert":
            self._certificates.discard(lambda identities: subject in identities)
        elif kind == "grants":
            self._grants.discard(lambda grantee: grantee == subject)

    def clear(self) -> None:
        """Forget everything (notifications may have been missed)."""
        self._keys.clear()
        self._unknown_keys.clear()
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
        wait = self.wait(now)
        if wait == 0:
            self._tokens -= 1
        return wait

    def wait(self, now: float) -> float:
        """0 when a token is available, else the seconds until one is (nothing is taken)."""
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def full(self, now: float) -> bool:
        return self._tokens + (now - self._updated) * self.rate >= self.burst


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


class FailureLimiter:
    """At most ``burst`` authentication failures from one peer (a client address), refilled at ``rate``
    per second. A peer past it has every call refused, before any lookup, until one failure's worth
    has refilled: guessing keys, or making PostgreSQL look up made-up ones, stays slow."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic, max_peers: int = 100_000) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._max_peers = max_peers
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, peer: str) -> None:
        """RESOURCE_EXHAUSTED with RetryInfo while ``peer`` has no failures left."""
        bucket = self._buckets.get(peer)
        if bucket is None:
            return
        wait = bucket.wait(self._clock())
        if wait > 0:
            retry_after = math.ceil(wait * 1000) / 1000
            raise resource_exhausted(
                f"too many failed authentications from this address; retry in {retry_after:.3f} s", retry_after
            )

    def record_failure(self, peer: str) -> None:
        now = self._clock()
        bucket = self._buckets.get(peer)
        if bucket is None:
            if len(self._buckets) >= self._max_peers:
                # Peers whose bucket refilled have nothing to remember.
                for full in [key for key, held in self._buckets.items() if held.full(now)]:
                    del self._buckets[full]
            bucket = self._buckets[peer] = TokenBucket(self._rate, self._burst, now)
        bucket.take(now)


class StreamLimiter:
    """At most ``limit`` streams open at once per credential, in this process."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: dict[str, int] = {}

    @contextmanager
    def slot(self, principal: Principal) -> Iterator[None]:
        """Hold one of ``principal``'s stream slots for the block; RESOURCE_EXHAUSTED when none is free."""
        credential = principal.credential_id
        if self._open.get(credential, 0) >= self._limit:
            raise resource_exhausted(
                f"this credential already has {self._limit} streams open; close one before opening another",
                STREAM_RETRY_SECONDS,
            )
        self._open[credential] = self._open.get(credential, 0) + 1
        try:
            yield
        finally:
            self._open[credential] -= 1
            if not self._open[credential]:
                del self._open[credential]


Metadata = Iterable[tuple[str, str | bytes]]


class CallGuard:
    """Admits a call to an AgentGateway method, or raises UNAUTHENTICATED / PERMISSION_DENIED / RESOURCE_EXHAUSTED."""

    def __init__(
        self,
        authenticator: Authenticator,
        limiter: RateLimiter,
        failures: FailureLimiter,
        streams: StreamLimiter,
    ) -> None:
        self.authenticator = authenticator
        self._limiter = limiter
        self._failures = failures
        self.streams = streams

    async def admit(
        self, method: str, access: Access, metadata: Metadata, peer_identities: Sequence[str], peer: str
    ) -> Principal | None:
        """The caller of ``method``, which requires ``access``; None for a public method.

        ``peer_identities`` are the identities of a client certificate verified by mutual TLS (empty
        without one); a bearer key, when sent, takes precedence over them. ``peer`` is the client's
        address, which authentication failures are counted against.
        """
        if access == PUBLIC:
            return None
        self._failures.check(peer)
        try:
            principal = await self._authenticate(metadata, peer_identities)
        except ServiceError as error:
            if error.code is grpc.StatusCode.UNAUTHENTICATED:
                self._failures.record_failure(peer)
            raise
        self._limiter.charge(principal)
        if access == WRITE and principal.scope is Scope.READ_ONLY:
            raise permission_denied(f"{method} writes, and this credential is read-only")
        return principal

    async def _authenticate(self, metadata: Metadata, peer_identities: Sequence[str]) -> Principal:
        token = bearer_token(metadata)
        if token is not None:
            return await self.authenticator.from_token(token)
        if peer_identities:
            return await self.authenticator.from_certificate(peer_identities)
        raise unauthenticated("credentials required: send 'authorization: Bearer <API key>'")


def bearer_token(metadata: Metadata) -> str | None:
    """The token of the ``authorization: Bearer <token>`` entry; UNAUTHENTICATED for another scheme, or
    for more than one entry (which one counts would depend on the proxies in between)."""
    values = [value for key, value in metadata if key.lower() == "authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise unauthenticated(f"send one authorization header, not {len(values)}")
    value = values[0]
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    scheme, _, token = text.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("the authorization metadata must be 'Bearer <API key>'")
    return token.strip()
