"""An agent's signing identity: the gateway forwards registrations, heartbeats, proposals and votes,
and never signs for an agent.

The signatures are those of the consensus service (cerebro.consensus.client), so every vote can be
re-verified offline against the agent's own public key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.consensus import client as consensus_client
from cerebro.consensus.keys import load_or_create_identity_key
from cerebro.consensus.v1 import consensus_pb2
from cerebro.gateway.v1 import gateway_pb2 as pb


def registration_request(
    private_key: Ed25519PrivateKey,
    instance_name: str,
    *,
    region: str,
    capabilities: Sequence[str] = (),
    voting: bool = True,
    specialized: bool = False,
) -> pb.RegisterInstanceRequest:
    """RegisterInstance for an agent, signed now with its own key (the instance id comes back in the response)."""
    signed = consensus_client.register_request(
        private_key,
        instance_name=instance_name,
        instance_type=consensus_pb2.INSTANCE_TYPE_SPECIALIZED if specialized else consensus_pb2.INSTANCE_TYPE_PRIMARY,
        region=region,
        capabilities=capabilities,
        voting=voting,
    )
    return pb.RegisterInstanceRequest(instance=signed.instance, sign_time=signed.sign_time, signature=signed.signature)


@dataclass(frozen=True)
class AgentSigner:
    """The Ed25519 key of a registered instance and the instance id the consensus service gave it."""

    private_key: Ed25519PrivateKey
    instance_id: str

    @classmethod
    def from_key_file(cls, path: Path, instance_id: str) -> AgentSigner:
        """The key in ``path`` (PEM, PKCS8), created with mode 0600 when it does not exist yet."""
        return cls(load_or_create_identity_key(path), instance_id)

    def renew_lease_request(self) -> pb.RenewInstanceLeaseRequest:
        signed = consensus_client.heartbeat_request(self.private_key, self.instance_id)
        return pb.RenewInstanceLeaseRequest(
            instance_id=signed.instance_id, sign_time=signed.sign_time, signature=signed.signature
        )

    def deregister_request(self) -> pb.DeregisterInstanceRequest:
        signed = consensus_client.deregister_request(self.private_key, self.instance_id)
        return pb.DeregisterInstanceRequest(
            instance_id=signed.instance_id, sign_time=signed.sign_time, signature=signed.signature
        )

    def propose_request(
        self, topic: str, deadline: datetime, options: Sequence[str] = (), request_id: str | None = None
    ) -> pb.ProposeRequest:
        signed = consensus_client.create_proposal_request(
            self.private_key,
            proposer_id=self.instance_id,
            topic=topic,
            deadline=deadline,
            options=options,
            request_id=request_id,
        ).proposal
        return pb.ProposeRequest(
            request_id=signed.request_id,
            topic=signed.topic,
            options=signed.options,
            deadline=signed.deadline,
            proposer_id=signed.proposer_id,
            proposer_signature=signed.proposer_signature,
        )

    def vote_request(self, proposal_id: str, choice: str) -> pb.VoteRequest:
        signed = consensus_client.vote_request(self.private_key, proposal_id, self.instance_id, choice)
        return pb.VoteRequest(
            proposal_id=signed.proposal_id,
            voter_id=signed.voter_id,
            choice=signed.choice,
            signature=signed.signature,
        )
