"""Administration of gateway credentials and read grants (what `cerebro keys ...` runs).

Every function takes an asyncpg connection or pool on a database with the gateway's schema
(:data:`services.gateway.store.schema.SCHEMA`). Bad arguments raise :class:`ValueError` with a one-line message.
Changes notify the running gateways, which drop their cached view of the credential at once.
The token of an issued key is returned once, by :func:`issue_key`, and never stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from cerebro.runtime.notifications import notify
from cerebro.runtime.violations import NAMESPACE_PATTERN, NAMESPACE_RULE
from services.gateway.store.channels import CREDENTIALS_CHANNEL
from services.gateway.store.credentials import INSTANCE_NAME_PATTERN, Scope, new_key

Database = asyncpg.Connection | asyncpg.Pool

MAX_LABEL_CHARS = 200


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    # The bearer token to hand to the instance; shown once, not recoverable.
    token: str
    namespace: str
    scope: Scope
    instance_name: str | None
    label: str


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    namespace: str
    scope: Scope
    instance_name: str | None
    label: str
    rate_per_second: float | None
    burst: int | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class CertificateBinding:
    identity: str
    namespace: str
    scope: Scope
    instance_name: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class Grant:
    owner_namespace: str
    grantee_namespace: str
    created_at: datetime


def check_namespace(namespace: str, what: str = "namespace") -> None:
    """ValueError naming ``what`` unless ``namespace`` is a valid namespace name."""
    if not NAMESPACE_PATTERN.fullmatch(namespace):
        raise ValueError(f"{what} {namespace!r} {NAMESPACE_RULE}")


def _check_common(
    namespace: str, instance_name: str | None, label: str, rate_per_second: float | None, burst: int | None
) -> None:
    check_namespace(namespace)
    if instance_name is not None and not INSTANCE_NAME_PATTERN.match(instance_name):
        raise ValueError(f"instance name {instance_name!r} must be 1-200 characters without whitespace")
    if len(label) > MAX_LABEL_CHARS:
        raise ValueError(f"label must be at most {MAX_LABEL_CHARS} characters")
    if rate_per_second is not None and not rate_per_second > 0:
        raise ValueError("rate_per_second must be positive")
    if burst is not None and burst < 1:
        raise ValueError("burst must be at least 1")


async def issue_key(
    db: Database,
    namespace: str,
    *,
    scope: Scope = Scope.READ_WRITE,
    instance_name: str | None = None,
    label: str = "",
    rate_per_second: float | None = None,
    burst: int | None = None,
) -> IssuedKey:
    """A new key for ``namespace``; ``instance_name`` is the consensus instance it may propose and vote for."""
    _check_common(namespace, instance_name, label, rate_per_second, burst)
    key = new_key()
    await db.execute(
        """INSERT INTO gateway.api_keys
               (key_id, secret_sha256, namespace, instance_name, scope, label, rate_per_second, burst)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        key.key_id,
        key.secret_sha256,
        namespace,
        instance_name,
        scope.value,
        label,
        rate_per_second,
        burst,
    )
    return IssuedKey(key.key_id, key.token, namespace, scope, instance_name, label)


async def revoke_key(db: Database, key_id: str) -> bool:
    """Revoke a key; False when there is no unrevoked key ``key_id``."""
    async with _transaction(db) as connection:
        revoked = await connection.fetchval(
            "UPDATE gateway.api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL RETURNING true",
            key_id,
        )
        if revoked:
            await notify(connection, CREDENTIALS_CHANNEL, f"key:{key_id}")
    return bool(revoked)


async def list_keys(db: Database, namespace: str | None = None, *, include_revoked: bool = False) -> list[KeyInfo]:
    """Keys by namespace and creation time (never their secrets)."""
    rows = await db.fetch(
        """SELECT key_id, namespace, scope, instance_name, label, rate_per_second, burst, created_at, revoked_at
           FROM gateway.api_keys
           WHERE ($1::text IS NULL OR namespace = $1) AND ($2 OR revoked_at IS NULL)
           ORDER BY namespace, created_at, key_id""",
        namespace,
        include_revoked,
    )
    return [
        KeyInfo(
            key_id=row["key_id"],
            namespace=row["namespace"],
            scope=Scope(row["scope"]),
            instance_name=row["instance_name"],
            label=row["label"],
            rate_per_second=row["rate_per_second"],
            burst=row["burst"],
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
        )
        for row in rows
    ]


async def bind_certificate(
    db: Database,
    identity: str,
    namespace: str,
    *,
    scope: Scope = Scope.READ_WRITE,
    instance_name: str | None = None,
    label: str = "",
    rate_per_second: float | None = None,
    burst: int | None = None,
) -> CertificateBinding:
    """Let mutual-TLS clients whose certificate names ``identity`` (a SAN, or the CN) act for ``namespace``.

    Binding a revoked identity again replaces the revoked binding; an active binding is kept
    (ValueError), so a certificate cannot silently change namespace.
    """
    if not identity or len(identity) > 1000:
        raise ValueError("identity must be 1-1000 characters")
    _check_common(namespace, instance_name, label, rate_per_second, burst)
    row = await db.fetchrow(
        """INSERT INTO gateway.certificate_bindings
               (identity, namespace, instance_name, scope, label, rate_per_second, burst)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (identity) DO UPDATE SET
               namespace = EXCLUDED.namespace, instance_name = EXCLUDED.instance_name, scope = EXCLUDED.scope,
               label = EXCLUDED.label, rate_per_second = EXCLUDED.rate_per_second, burst = EXCLUDED.burst,
               created_at = now(), revoked_at = NULL
           WHERE gateway.certificate_bindings.revoked_at IS NOT NULL
           RETURNING created_at""",
        identity,
        namespace,
        instance_name,
        scope.value,
        label,
        rate_per_second,
        burst,
    )
    if row is None:
        raise ValueError(f"certificate identity {identity!r} is already bound; unbind it first")
    return CertificateBinding(identity, namespace, scope, instance_name, label, row["created_at"], None)


async def unbind_certificate(db: Database, identity: str) -> bool:
    """Revoke a certificate binding; False when there is no active one."""
    async with _transaction(db) as connection:
        revoked = await connection.fetchval(
            """UPDATE gateway.certificate_bindings SET revoked_at = now()
               WHERE identity = $1 AND revoked_at IS NULL RETURNING true""",
            identity,
        )
        if revoked:
            await notify(connection, CREDENTIALS_CHANNEL, f"cert:{identity}")
    return bool(revoked)


async def list_certificate_bindings(db: Database, *, include_revoked: bool = False) -> list[CertificateBinding]:
    rows = await db.fetch(
        """SELECT identity, namespace, scope, instance_name, label, created_at, revoked_at
           FROM gateway.certificate_bindings WHERE $1 OR revoked_at IS NULL ORDER BY identity""",
        include_revoked,
    )
    return [
        CertificateBinding(
            row["identity"],
            row["namespace"],
            Scope(row["scope"]),
            row["instance_name"],
            row["label"],
            row["created_at"],
            row["revoked_at"],
        )
        for row in rows
    ]


def check_grant(owner_namespace: str, grantee_namespace: str) -> None:
    """ValueError unless a grant from ``owner_namespace`` to ``grantee_namespace`` could be made."""
    check_namespace(owner_namespace, "owner namespace")
    check_namespace(grantee_namespace, "grantee namespace")
    if owner_namespace == grantee_namespace:
        raise ValueError("a namespace can always read itself; grant another namespace")


async def grant_read(db: Database, owner_namespace: str, grantee_namespace: str) -> bool:
    """Let ``grantee_namespace`` read ``owner_namespace``'s memories; False when already granted."""
    check_grant(owner_namespace, grantee_namespace)
    async with _transaction(db) as connection:
        granted = await connection.fetchval(
            """INSERT INTO gateway.read_grants (owner_namespace, grantee_namespace) VALUES ($1, $2)
               ON CONFLICT DO NOTHING RETURNING true""",
            owner_namespace,
            grantee_namespace,
        )
        await notify(connection, CREDENTIALS_CHANNEL, f"grants:{grantee_namespace}")
    return bool(granted)


async def revoke_read(db: Database, owner_namespace: str, grantee_namespace: str) -> bool:
    """Withdraw a read grant; False when there was none."""
    async with _transaction(db) as connection:
        revoked = await connection.fetchval(
            """DELETE FROM gateway.read_grants WHERE owner_namespace = $1 AND grantee_namespace = $2
               RETURNING true""",
            owner_namespace,
            grantee_namespace,
        )
        await notify(connection, CREDENTIALS_CHANNEL, f"grants:{grantee_namespace}")
    return bool(revoked)


async def list_grants(db: Database, namespace: str | None = None) -> list[Grant]:
    """Grants where ``namespace`` (when given) is the owner or the grantee."""
    rows = await db.fetch(
        """SELECT owner_namespace, grantee_namespace, created_at FROM gateway.read_grants
           WHERE $1::text IS NULL OR owner_namespace = $1 OR grantee_namespace = $1
           ORDER BY owner_namespace, grantee_namespace""",
        namespace,
    )
    return [Grant(row["owner_namespace"], row["grantee_namespace"], row["created_at"]) for row in rows]


async def known_namespaces(db: Database, namespaces: list[str]) -> set[str]:
    """Those of ``namespaces`` the mesh knows: with an API key or a certificate binding (even revoked), or
    with memories (a namespace the memory service holds, when its schema is in this database)."""
    rows = await db.fetch(
        """SELECT namespace FROM gateway.api_keys WHERE namespace = ANY($1::text[])
           UNION SELECT namespace FROM gateway.certificate_bindings WHERE namespace = ANY($1::text[])""",
        namespaces,
    )
    known = {row["namespace"] for row in rows}
    if await db.fetchval("SELECT to_regclass('memory.namespaces') IS NOT NULL"):
        held = await db.fetch("SELECT name FROM memory.namespaces WHERE name = ANY($1::text[])", namespaces)
        known |= {row["name"] for row in held}
    return known


@asynccontextmanager
async def _transaction(db: Database) -> AsyncIterator[asyncpg.Connection]:
    """A transaction on ``db``, or on a connection borrowed from it when it is a pool."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as connection, connection.transaction():
            yield connection
    else:
        async with db.transaction():
            yield db
