"""Running consensus servers in the test's event loop, and enrolled, registered members that sign what they send."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cerebro.consensus.client import (
    Enrollment,
    create_proposal_request,
    public_key_bytes,
    register_request,
    vote_request,
)
from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.consensus.v1 import consensus_pb2_grpc
from cerebro.runtime.channels import open_channel
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.roles import Role
from cerebro.runtime.server import ServiceHost
from services.consensus.main import lifespan
from services.consensus.settings import ConsensusSettings
from services.consensus.store import enrollment
from tests.support import loopback_settings, running_host

# Long leases, so that only the lease tests see instances go standby; a fast sweep for watchers.
STEADY_ENV = {
    "CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": "60",
    "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": "120",
    "CEREBRO_CONSENSUS_SWEEP_INTERVAL_SECONDS": "0.1",
}


@dataclass
class ConsensusServer:
    host: ServiceHost
    target: str
    channel: grpc.aio.Channel
    stub: consensus_pb2_grpc.ConsensusServiceStub
    # The database as the owner, as operators connect to it (enrolments are theirs to write).
    operator_url: str

    async def enroll(self, name: str, key: Ed25519PrivateKey, *, voting: bool = True) -> None:
        """What `cerebro instances enroll` does, as the operator."""
        await enroll(self.operator_url, name, key, voting=voting)

    async def enrollments(self) -> list[Enrollment]:
        """Every enrolment, revoked ones included: what `reverify` checks electorates against."""
        return await enrollments(self.operator_url)


async def enroll(database_url: str, name: str, key: Ed25519PrivateKey, *, voting: bool = True) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await enrollment.enroll(connection, name, public_key_bytes(key), voting=voting, by="test@harness")
    finally:
        await connection.close()


async def enrollments(database_url: str) -> list[Enrollment]:
    connection = await asyncpg.connect(database_url)
    try:
        return [record.enrollment() for record in await enrollment.list_enrollments(connection, include_revoked=True)]
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def consensus_server(
    database_url: str,
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    port: int = 0,
    client_tls: TlsSettings | None = None,
    operator_url: str | None = None,
) -> AsyncIterator[ConsensusServer]:
    """A consensus server; the test's stub presents ``client_tls`` (for a server with mutual TLS), and the
    test enrols as an operator through ``operator_url`` (``database_url`` when None)."""
    environ = {**STEADY_ENV, **(env or {}), "CEREBRO_DATABASE_URL": database_url, "CEREBRO_CONSENSUS_PORT": str(port)}
    settings = loopback_settings("consensus", data_dir, environ)
    consensus_settings = ConsensusSettings.from_env(environ)
    async with running_host(settings, lambda host: lifespan(host, consensus_settings)) as host:
        target = f"127.0.0.1:{host.bound_port}"
        channel = open_channel(target, client_tls, server_role=Role.CONSENSUS, max_attempts=1)
        try:
            stub = consensus_pb2_grpc.ConsensusServiceStub(channel)
            yield ConsensusServer(host, target, channel, stub, operator_url or database_url)
        finally:
            await channel.close()


@dataclass
class Member:
    """A registered instance holding its key."""

    name: str
    key: Ed25519PrivateKey
    instance_id: str

    def vote(self, proposal_id: str, choice: str) -> pb.VoteRequest:
        return vote_request(self.key, proposal_id, self.instance_id, choice)

    def propose(
        self, topic: str = "adopt the plan", *, options: Sequence[str] = (), seconds: float = 60.0
    ) -> pb.CreateProposalRequest:
        deadline = datetime.now(UTC) + timedelta(seconds=seconds)
        return create_proposal_request(
            self.key, proposer_id=self.instance_id, topic=topic, deadline=deadline, options=options
        )


async def register(
    server: ConsensusServer,
    name: str | None = None,
    *,
    voting: bool = True,
    region: str = "local",
    capabilities: Sequence[str] = (),
    key: Ed25519PrivateKey | None = None,
) -> Member:
    """An agent instance, enrolled by the operator (again, harmlessly, for the same key) and registered."""
    key = key or Ed25519PrivateKey.generate()
    name = name or f"agent-{uuid.uuid4().hex[:8]}"
    await server.enroll(name, key, voting=voting)
    response = await server.stub.RegisterInstance(
        register_request(
            key,
            instance_name=name,
            instance_type=pb.INSTANCE_TYPE_PRIMARY,
            region=region,
            capabilities=capabilities,
            endpoints=[f"grpc://{name}.local:50051"],
            voting=voting,
        )
    )
    return Member(name, key, response.instance.instance_id)


async def register_electorate(server: ConsensusServer, size: int) -> list[Member]:
    return [await register(server, f"voter-{index:02d}-{uuid.uuid4().hex[:6]}") for index in range(size)]


def field_violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """The BadRequest field violations of an INVALID_ARGUMENT status."""
    status = rpc_status.from_call(error)
    assert status is not None, "the status carries no google.rpc details"
    violations: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            request = error_details_pb2.BadRequest()
            detail.Unpack(request)
            violations += [(item.field, item.description) for item in request.field_violations]
    return violations


async def next_message(call: grpc.aio.UnaryStreamCall, timeout: float = 10.0) -> Any:
    """The next message of a server stream (grpc.aio.EOF when it ended)."""
    return await asyncio.wait_for(call.read(), timeout)
