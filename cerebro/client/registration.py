"""Joining the instance network, so that an agent can propose and vote.

The gateway has no registration method: an agent registers its Ed25519 key with the consensus service
(CEREBRO_CONSENSUS_TARGET, default localhost:50054) once, and keeps the instance id it gets back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from cerebro.client.errors import from_rpc_error
from cerebro.client.signing import AgentSigner
from cerebro.consensus import client as consensus_client
from cerebro.consensus.v1 import consensus_pb2, consensus_pb2_grpc
from cerebro.runtime.channels import open_channel
from cerebro.runtime.config import Env
from cerebro.runtime.registration import load_or_create_identity_key

DEFAULT_CONSENSUS_TARGET = "localhost:50054"


async def register_agent(
    instance_name: str,
    key_file: Path,
    *,
    region: str = "local",
    capabilities: Sequence[str] = (),
    voting: bool = True,
    consensus_target: str | None = None,
) -> AgentSigner:
    """Register (or register again, with the same key) ``instance_name``; its signer for propose/vote.

    Registration grants a lease (15 s by default under `cerebro up`): an agent only counts in the
    electorate of proposals made while its lease is active. Raises CerebroError on failure.
    """
    key = load_or_create_identity_key(key_file)
    target = consensus_target or Env().str("CONSENSUS_TARGET", DEFAULT_CONSENSUS_TARGET) or DEFAULT_CONSENSUS_TARGET
    request = consensus_client.register_request(
        key,
        instance_name=instance_name,
        instance_type=consensus_pb2.INSTANCE_TYPE_PRIMARY,
        region=region,
        capabilities=capabilities,
        voting=voting,
    )
    async with open_channel(target) as channel:
        try:
            response = await consensus_pb2_grpc.ConsensusServiceStub(channel).RegisterInstance(request)
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None
    return AgentSigner(key, response.instance.instance_id)
