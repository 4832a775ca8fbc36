"""Who a caller is: API keys and certificate bindings in PostgreSQL, and the principal they stand for.

An API key reads ``crb_<key_id>.<secret>``: ``key_id`` (16 hex digits) is the public half used for
lookup, listing and revocation; ``secret`` is 32 random bytes (base64url), of which only the SHA-256
is stored. A secret with 256 bits of entropy needs no slow password hash: SHA-256 cannot be
inverted, and the comparison is constant-time.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import asyncpg

TOKEN_PREFIX = "crb_"
_TOKEN = re.compile(r"^crb_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")
INSTANCE_NAME_PATTERN = re.compile(r"^[^\s\x00-\x1f\x7f]{1,200}$")


class Scope(enum.Enum):
    READ_WRITE = "read-write"
    READ_ONLY = "read-only"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    # "key:<key_id>" or "cert:<identity>": what the rate limit and the logs key on.
    credential_id: str
    namespace: str
    scope: Scope
    # The consensus instance the credential acts for; None when it acts for none.
    instance_name: str | None
    rate_per_second: float | None
    burst: int | None


@dataclass(frozen=True)
class NewKey:
    key_id: str
    token: str
    secret_sha256: bytes


def new_key() -> NewKey:
    key_id = secrets.token_hex(8)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return NewKey(key_id, f"{TOKEN_PREFIX}{key_id}.{secret}", secret_digest(secret))


def parse_token(token: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    match = _TOKEN.match(token)
    return (match[1], match[2]) if match else None


def secret_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def secret_matches(secret: str, digest: bytes) -> bool:
    return hmac.compare_digest(secret_digest(secret), digest)


@dataclass(frozen=True)
class StoredKey:
    secret_sha256: bytes
    principal: Principal


_PRINCIPAL_COLUMNS = "namespace, instance_name, scope, rate_per_second, burst"


def _principal(credential_id: str, row: asyncpg.Record) -> Principal:
    return Principal(
        credential_id=credential_id,
        namespace=row["namespace"],
        scope=Scope(row["scope"]),
        instance_name=row["instance_name"],
        rate_per_second=row["rate_per_second"],
        burst=row["burst"],
    )


class CredentialStore:
    """Reads of the credential and grant tables (writes are the admin functions of keys.py)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def key(self, key_id: str) -> StoredKey | None:
        """The unrevoked key ``key_id``, or None."""
        row = await self._pool.fetchrow(
            f"SELECT secret_sha256, {_PRINCIPAL_COLUMNS} FROM gateway.api_keys"
            " WHERE key_id = $1 AND revoked_at IS NULL",
            key_id,
        )
        return None if row is None else StoredKey(bytes(row["secret_sha256"]), _principal(f"key:{key_id}", row))

    async def certificate(self, identities: list[str]) -> Principal | None:
        """The principal of the first of ``identities`` bound to an unrevoked binding, or None."""
        row = await self._pool.fetchrow(
            f"SELECT identity, {_PRINCIPAL_COLUMNS} FROM gateway.certificate_bindings"
            " WHERE identity = ANY($1::text[]) AND revoked_at IS NULL ORDER BY array_position($1::text[], identity)"
            " LIMIT 1",
            identities,
        )
        return None if row is None else _principal(f"cert:{row['identity']}", row)

    async def readable_namespaces(self, grantee: str) -> frozenset[str]:
        """Namespaces whose owners granted ``grantee`` read access."""
        rows = await self._pool.fetch(
            "SELECT owner_namespace FROM gateway.read_grants WHERE grantee_namespace = $1", grantee
        )
        return frozenset(row["owner_namespace"] for row in rows)
