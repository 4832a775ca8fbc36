"""The credential admin functions and the authenticator, on real PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
import pytest

from cerebro.runtime.errors import ServiceError
from cerebro.runtime.notifications import Listener
from services.gateway.auth import Authenticator
from services.gateway.store import keys
from services.gateway.store.channels import CREDENTIALS_CHANNEL
from services.gateway.store.credentials import CredentialStore, Scope, parse_token


async def test_issued_key_is_stored_only_as_a_hash(gateway_pool: asyncpg.Pool) -> None:
    issued = await keys.issue_key(gateway_pool, "nexus", instance_name="NEXUS", label="laptop")
    parsed = parse_token(issued.token)
    assert parsed is not None and parsed[0] == issued.key_id
    stored = await gateway_pool.fetchrow("SELECT * FROM gateway.api_keys WHERE key_id = $1", issued.key_id)
    assert parsed[1].encode() not in bytes(stored["secret_sha256"])
    assert issued.token not in str(dict(stored))
    listed = await keys.list_keys(gateway_pool, "nexus")
    assert [(k.key_id, k.scope, k.instance_name, k.label) for k in listed] == [
        (issued.key_id, Scope.READ_WRITE, "NEXUS", "laptop")
    ]


async def test_authenticator_accepts_the_token_and_nothing_else(gateway_pool: asyncpg.Pool) -> None:
    issued = await keys.issue_key(gateway_pool, "aria", scope=Scope.READ_ONLY)
    authenticator = Authenticator(CredentialStore(gateway_pool), cache_seconds=60)
    principal = await authenticator.from_token(issued.token)
    assert (principal.namespace, principal.scope, principal.credential_id) == (
        "aria",
        Scope.READ_ONLY,
        f"key:{issued.key_id}",
    )
    key_id, secret = parse_token(issued.token)  # type: ignore[misc]
    wrong_secret = f"crb_{key_id}.{'A' * 43}"
    unknown_key = f"crb_{'0' * 16}.{secret}"
    for token in (wrong_secret, unknown_key, "crb_short", issued.token + "x"):
        with pytest.raises(ServiceError) as caught:
            await authenticator.from_token(token)
        assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED


async def test_revocation_reaches_a_caching_authenticator_by_notification(
    gateway_database_url: str, gateway_pool: asyncpg.Pool
) -> None:
    issued = await keys.issue_key(gateway_pool, "nexus")
    authenticator = Authenticator(CredentialStore(gateway_pool), cache_seconds=3600)
    listener = Listener(gateway_database_url, "gateway test")
    listener.on(CREDENTIALS_CHANNEL, authenticator.invalidate)
    listening = asyncio.create_task(listener.run())
    try:
        while not listener.listening:
            await asyncio.sleep(0.02)
        await authenticator.from_token(issued.token)  # now cached for an hour
        assert await keys.revoke_key(gateway_pool, issued.key_id)
        assert not await keys.revoke_key(gateway_pool, issued.key_id)
        for _ in range(200):
            try:
                await authenticator.from_token(issued.token)
            except ServiceError as error:
                assert error.code is grpc.StatusCode.UNAUTHENTICATED
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the revoked key is still accepted")
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
    assert [k.key_id for k in await keys.list_keys(gateway_pool, include_revoked=True) if k.revoked_at] == [
        issued.key_id
    ]
    assert await keys.list_keys(gateway_pool) == []


async def test_grants_decide_which_other_namespaces_a_caller_reads(gateway_pool: asyncpg.Pool) -> None:
    nexus = await keys.issue_key(gateway_pool, "nexus")
    authenticator = Authenticator(CredentialStore(gateway_pool), cache_seconds=0)
    principal = await authenticator.from_token(nexus.token)
    assert await authenticator.readable_namespace(principal, "") == "nexus"
    with pytest.raises(ServiceError) as caught:
        await authenticator.readable_namespace(principal, "aria")
    assert caught.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert await keys.grant_read(gateway_pool, "aria", "nexus")
    assert not await keys.grant_read(gateway_pool, "aria", "nexus")
    assert await authenticator.readable_namespace(principal, "aria") == "aria"
    assert [(g.owner_namespace, g.grantee_namespace) for g in await keys.list_grants(gateway_pool, "nexus")] == [
        ("aria", "nexus")
    ]
    assert await keys.revoke_read(gateway_pool, "aria", "nexus")
    with pytest.raises(ServiceError):
        await authenticator.readable_namespace(principal, "aria")


async def test_a_new_grant_works_at_once_despite_a_cached_refusal(gateway_pool: asyncpg.Pool) -> None:
    nexus = await keys.issue_key(gateway_pool, "nexus-cached")
    authenticator = Authenticator(CredentialStore(gateway_pool), cache_seconds=3600)
    principal = await authenticator.from_token(nexus.token)
    with pytest.raises(ServiceError):
        await authenticator.readable_namespace(principal, "aria-cached")
    # No notification reaches this authenticator: only the refusal's re-check can see the grant.
    await keys.grant_read(gateway_pool, "aria-cached", "nexus-cached")
    assert await authenticator.readable_namespace(principal, "aria-cached") == "aria-cached"


async def test_certificate_bindings(gateway_pool: asyncpg.Pool) -> None:
    await keys.bind_certificate(gateway_pool, "aria.agents.local", "aria", instance_name="ARIA")
    with pytest.raises(ValueError, match="already bound"):
        await keys.bind_certificate(gateway_pool, "aria.agents.local", "nexus")
    authenticator = Authenticator(CredentialStore(gateway_pool), cache_seconds=0)
    principal = await authenticator.from_certificate(["unbound.local", "aria.agents.local"])
    assert (principal.namespace, principal.instance_name, principal.credential_id) == (
        "aria",
        "ARIA",
        "cert:aria.agents.local",
    )
    assert await keys.unbind_certificate(gateway_pool, "aria.agents.local")
    with pytest.raises(ServiceError) as caught:
        await authenticator.from_certificate(["aria.agents.local"])
    assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED
    # A revoked identity may be bound again, to another namespace.
    await keys.bind_certificate(gateway_pool, "aria.agents.local", "nexus", scope=Scope.READ_ONLY)
    assert [(b.identity, b.namespace) for b in await keys.list_certificate_bindings(gateway_pool)] == [
        ("aria.agents.local", "nexus")
    ]


@pytest.mark.parametrize(
    ("namespace", "options", "message"),
    [
        ("NEXUS", {}, "lowercase letter"),
        ("nexus", {"instance_name": "has space"}, "without whitespace"),
        ("nexus", {"rate_per_second": 0.0}, "positive"),
        ("nexus", {"burst": 0}, "at least 1"),
        ("nexus", {"label": "x" * 201}, "at most 200"),
    ],
)
async def test_bad_arguments_are_refused(
    gateway_pool: asyncpg.Pool, namespace: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await keys.issue_key(gateway_pool, namespace, **options)  # type: ignore[arg-type]
    assert await keys.list_keys(gateway_pool, include_revoked=True) == []
