"""`cerebro.consensus.v1.ConsensusService`: the API parts combined into one servicer."""

from __future__ import annotations

from cerebro.consensus.v1 import consensus_pb2_grpc
from services.consensus.api.instances import InstancesApi
from services.consensus.api.proposals import ProposalsApi


class ConsensusServicer(InstancesApi, ProposalsApi, consensus_pb2_grpc.ConsensusServiceServicer):
    """Every RPC of ConsensusService, one API part per resource (tests check that none is left unimplemented)."""
