"""The client tests run against the gateway tests' mesh: real consensus, memory and gateway servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest

from cerebro.client import AgentSigner, AsyncCerebroClient, ClientSettings
from cerebro.consensus.keys import load_or_create_identity_key
from tests.gateway.conftest import mesh, namespace  # noqa: F401  (the gateway tests' fixtures, reused)
from tests.gateway.harness import Mesh


@dataclass
class Agent:
    """A registered, voting instance with a read-write key bound to it."""

    name: str
    namespace: str
    api_key: str
    signer: AgentSigner

    def settings(self, mesh: Mesh) -> ClientSettings:  # noqa: F811
        return ClientSettings(target=mesh.gateway.target, api_key=self.api_key)


async def new_agent(mesh: Mesh, prefix: str = "nexus", capabilities: Sequence[str] = ()) -> Agent:  # noqa: F811
    suffix = uuid.uuid4().hex[:8]
    name, agent_namespace = f"{prefix.upper()}-{suffix}", f"{prefix}-{suffix}"
    issued = await mesh.issue(agent_namespace, instance_name=name)
    settings = ClientSettings(target=mesh.gateway.target, api_key=issued.token)
    key_file = mesh.data_dir / "agent-keys" / f"{name}.pem"
    await mesh.consensus.enroll(name, load_or_create_identity_key(key_file))
    async with AsyncCerebroClient(settings) as client:
        await client.register_instance(name, key_file, capabilities=capabilities, keep_lease=False)
        assert client.signer is not None
        return Agent(name, agent_namespace, issued.token, client.signer)


@pytest.fixture
async def agent(mesh: Mesh) -> Agent:  # noqa: F811
    return await new_agent(mesh)


@pytest.fixture
async def client(mesh: Mesh, agent: Agent) -> AsyncIterator[AsyncCerebroClient]:  # noqa: F811
    async with AsyncCerebroClient(agent.settings(mesh), signer=agent.signer) as connected:
        yield connected
