"""Service identity in the mesh: the role a certificate proves, and who may call whom.

Every process of the mesh holds a certificate from the mesh CA (:mod:`cerebro.runtime.mesh_ca`) that
names its role twice:

- as a SPIFFE-style URI SAN, ``spiffe://cerebro/<role>``: a server reads it from the verified client
  certificate (gRPC's ``peer_spiffe_id`` auth property) to decide what the caller may do;
- as a DNS SAN, ``<role>.cerebro.internal``: a client verifies it in place of the host name it dialled
  (``grpc.ssl_target_name_override``), so reaching an address proves "this endpoint holds a memory
  certificate", wherever the address came from (a static target or the instance registry).

Both checks need mutual TLS (``CEREBRO_TLS_CERT_FILE``, ``..._KEY_FILE`` and ``..._CA_FILE``); without
it the network is the only boundary, and :class:`~cerebro.runtime.server.ServiceHost` says so in its log.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any

import grpc

from cerebro.runtime.errors import permission_denied

SPIFFE_PREFIX = "spiffe://cerebro/"
DNS_SUFFIX = ".cerebro.internal"


class Role(enum.StrEnum):
    """What a mesh certificate lets its holder be. Service roles are the process names of ``cerebro serve``."""

    GATEWAY = "gateway"
    MEMORY = "memory"
    EMBEDDER = "embedder"
    CONSENSUS = "consensus"
    EMBEDDINGS_WORKER = "embeddings-worker"
    RECONCILIATION_WORKER = "reconciliation-worker"
    # People and their tools (grpcurl, `cerebro up`'s readiness probe): a client, never a server.
    OPERATOR = "operator"


SERVICE_ROLES = frozenset(Role) - {Role.OPERATOR}

# Who may call each internal service (health and reflection answer any mesh certificate). Only the roles
# whose processes make such calls: the workers work on PostgreSQL and Redis directly, never through the
# memory service, and only the embeddings worker embeds.
MEMORY_CALLERS = frozenset({Role.GATEWAY, Role.OPERATOR})
EMBEDDER_CALLERS = frozenset({Role.MEMORY, Role.EMBEDDINGS_WORKER, Role.OPERATOR})
# Every process registers itself, and the gateway forwards agents; what a registration may claim is
# decided by the consensus service itself (services.consensus.admission).
CONSENSUS_CALLERS = frozenset(Role)


def role_uri(role: Role) -> str:
    return SPIFFE_PREFIX + role.value


def role_dns_name(role: Role) -> str:
    return role.value + DNS_SUFFIX


def peer_role(context: grpc.aio.ServicerContext[Any, Any]) -> Role | None:
    """The role the caller's verified certificate proves; None without one (plaintext, or no role in it).

    gRPC sets ``peer_spiffe_id`` only for a certificate it verified that holds exactly one valid SPIFFE ID.
    """
    values = list((context.auth_context() or {}).get("peer_spiffe_id") or [])
    if len(values) != 1:
        return None
    uri = values[0].decode("utf-8", "replace")
    if not uri.startswith(SPIFFE_PREFIX):
        return None
    try:
        return Role(uri[len(SPIFFE_PREFIX) :])
    except ValueError:
        return None


class CallerPolicy:
    """The roles allowed to call each service (by full service name); services not listed admit any role.

    Used as an observer of :class:`cerebro.runtime.interceptors.ObservingInterceptor` on servers that
    require client certificates: one check for every method of every service, before any handler runs.
    """

    def __init__(self, allowed: Mapping[str, Collection[Role]]) -> None:
        self._allowed = {service: frozenset(roles) for service, roles in allowed.items()}

    @asynccontextmanager
    async def check(
        self, method: str, context: grpc.aio.ServicerContext[Any, Any], request: Any
    ) -> AsyncIterator[None]:
        service = method.lstrip("/").rpartition("/")[0]
        allowed = self._allowed.get(service)
        if allowed is not None:
            role = peer_role(context)
            if role is None:
                raise permission_denied(f"{service} needs a mesh certificate with a role ({SPIFFE_PREFIX}<role>)")
            if role not in allowed:
                names = ", ".join(sorted(allowed))
                raise permission_denied(f"{service} does not serve the {role.value} role (it serves: {names})")
        yield
