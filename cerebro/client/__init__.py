"""The agent-facing Python client of the Cerebro gateway (cerebro.gateway.v1.AgentGateway).

from cerebro.client import CerebroClient
with CerebroClient() as cerebro:            # CEREBRO_GATEWAY_TARGET, CEREBRO_API_KEY(_FILE), CEREBRO_TLS_*
    cerebro.remember("NEXUS finished the migration", tags=["ops"])
    hits = cerebro.recall("migration").hits
    cerebro.register_instance("NEXUS", Path("~/.cerebro/agents/NEXUS.pem").expanduser())  # to propose and vote
"""

from cerebro.client.async_client import AsyncCerebroClient
from cerebro.client.errors import (
    Aborted,
    AlreadyExists,
    CerebroError,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from cerebro.client.settings import ClientSettings, ClientTls
from cerebro.client.signing import AgentSigner
from cerebro.client.sync_client import CerebroClient

__all__ = [
    "Aborted",
    "AgentSigner",
    "AlreadyExists",
    "AsyncCerebroClient",
    "CerebroClient",
    "CerebroError",
    "ClientSettings",
    "ClientTls",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
]
