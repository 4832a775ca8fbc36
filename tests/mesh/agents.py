"""A voting agent instance of one region: its own Ed25519 key, a lease it keeps, signed votes.

The agent talks to the consensus service through its region's link (the test process connects to the
region's link address), so cutting the region cuts the agent exactly as it cuts the region's services.
It presents the operator's certificate (the consensus service answers mutual TLS only), and registers
only once the operator enrolled its key (Mesh.enroll).
"""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.consensus.client import create_proposal_request, heartbeat_request, register_request, vote_request
from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.consensus.v1 import consensus_pb2_grpc
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.roles import Role
from tests.mesh.harness import secure_channel

CALL_TIMEOUT_SECONDS = 3.0
# Reconnect quickly once a cut heals, instead of gRPC's default backoff of up to two minutes.
CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)]
_REGISTER_AGAIN = {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION}


class VoterAgent:
    def __init__(self, name: str, region: str, consensus_target: str, tls: TlsSettings) -> None:
        self.name = name
        self.region = region
        self.key = Ed25519PrivateKey.generate()
        self._channel = secure_channel(consensus_target, tls, Role.CONSENSUS, CHANNEL_OPTIONS)
        self._stub = consensus_pb2_grpc.ConsensusServiceStub(self._channel)
        self.instance_id = ""
        self._stop = threading.Event()
        self._heartbeats: threading.Thread | None = None

    def join(self) -> None:
        """Register as a voting instance and keep the lease alive from a background thread."""
        lease = self._register()
        self._heartbeats = threading.Thread(
            target=self._keep_lease, args=(lease,), name=f"lease-{self.name}", daemon=True
        )
        self._heartbeats.start()

    def leave(self) -> None:
        self._stop.set()
        if self._heartbeats is not None:
            self._heartbeats.join(10)
        self._channel.close()

    def _register(self) -> float:
        response = self._stub.RegisterInstance(
            register_request(
                self.key,
                instance_name=self.name,
                instance_type=pb.INSTANCE_TYPE_PRIMARY,
                region=self.region,
                voting=True,
            ),
            timeout=CALL_TIMEOUT_SECONDS,
        )
        self.instance_id = response.instance.instance_id
        return response.lease_ttl_seconds

    def _keep_lease(self, lease_seconds: float) -> None:
        # A third of the lease between heartbeats, as the services do; failures (a cut link) are retried.
        while not self._stop.wait(lease_seconds / 3):
            try:
                self._stub.Heartbeat(heartbeat_request(self.key, self.instance_id), timeout=CALL_TIMEOUT_SECONDS)
            except grpc.RpcError as error:
                if error.code() in _REGISTER_AGAIN:  # type: ignore[attr-defined]
                    with contextlib.suppress(grpc.RpcError):
                        self._register()

    def propose(self, topic: str, deadline: datetime) -> pb.Proposal:
        request = create_proposal_request(self.key, proposer_id=self.instance_id, topic=topic, deadline=deadline)
        return self._stub.CreateProposal(request, timeout=CALL_TIMEOUT_SECONDS).proposal

    def vote(self, proposal_id: str, choice: str) -> pb.Proposal:
        request = vote_request(self.key, proposal_id, self.instance_id, choice)
        return self._stub.Vote(request, timeout=CALL_TIMEOUT_SECONDS).proposal


def get_proposal(consensus_target: str, proposal_id: str, tls: TlsSettings) -> pb.Proposal:
    """The full view of a proposal, read directly from the core."""
    with secure_channel(consensus_target, tls, Role.CONSENSUS) as channel:
        return (
            consensus_pb2_grpc.ConsensusServiceStub(channel)
            .GetProposal(
                pb.GetProposalRequest(proposal_id=proposal_id, view=pb.PROPOSAL_VIEW_FULL), timeout=CALL_TIMEOUT_SECONDS
            )
            .proposal
        )
