"""What an instance needs to talk to the consensus service: signed requests, and offline re-verification.

Used by the runtime's self-registration, by agent instances, by the tests and by the benchmark.
"""

from __future__ import annotations

import base64
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from google.protobuf.timestamp_pb2 import Timestamp

from cerebro.consensus.names import INSTANCE_TYPES, PROPOSAL_STATES
from cerebro.consensus.rules import DEFAULT_OPTIONS, Outcome, ProposalState, outcome, quorum
from cerebro.consensus.signatures import (
    deregistration_payload,
    heartbeat_payload,
    proposal_payload,
    registration_payload,
    verify,
    vote_payload,
)
from cerebro.consensus.v1 import consensus_pb2 as pb


class VerificationError(ValueError):
    """A proposal's votes do not justify its recorded outcome; the message lists every problem."""


@dataclass(frozen=True)
class Enrollment:
    """An operator's enrolment of an instance key, as `cerebro instances enrolled --json` lists it."""

    instance_name: str
    public_key: bytes
    voting: bool
    enroll_time: datetime
    revoke_time: datetime | None = None

    def entitles_vote_at(self, moment: datetime) -> bool:
        """Whether this enrolment made its key a voter at ``moment``."""
        return self.voting and self.enroll_time <= moment and (self.revoke_time is None or moment < self.revoke_time)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Enrollment:
        """From one entry of `cerebro instances enrolled --all --json`."""
        revoked = item.get("revoked_at")
        return cls(
            instance_name=item["instance_name"],
            public_key=base64.b64decode(item["public_key"]),
            voting=bool(item["voting"]),
            enroll_time=datetime.fromisoformat(item["enrolled_at"]),
            revoke_time=datetime.fromisoformat(revoked) if revoked else None,
        )


def public_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _timestamp(value: datetime) -> Timestamp:
    message = Timestamp()
    message.FromDatetime(value)
    return message


def _now() -> datetime:
    return datetime.now(UTC)


def register_request(
    private_key: Ed25519PrivateKey,
    *,
    instance_name: str,
    instance_type: pb.InstanceType.ValueType,
    region: str,
    capabilities: Sequence[str] = (),
    endpoints: Sequence[str] = (),
    voting: bool = False,
    sign_time: datetime | None = None,
) -> pb.RegisterInstanceRequest:
    signed_at = sign_time or _now()
    public_key = public_key_bytes(private_key)
    payload = registration_payload(
        instance_name=instance_name,
        instance_type=INSTANCE_TYPES[instance_type],
        region=region,
        capabilities=capabilities,
        endpoints=endpoints,
        public_key=public_key,
        voting=voting,
        sign_time=signed_at,
    )
    return pb.RegisterInstanceRequest(
        instance=pb.Instance(
            instance_name=instance_name,
            instance_type=instance_type,
            region=region,
            capabilities=capabilities,
            endpoints=endpoints,
            public_key=public_key,
            voting=voting,
        ),
        sign_time=_timestamp(signed_at),
        signature=private_key.sign(payload),
    )


def heartbeat_request(
    private_key: Ed25519PrivateKey, instance_id: str, sign_time: datetime | None = None
) -> pb.HeartbeatRequest:
    signed_at = sign_time or _now()
    return pb.HeartbeatRequest(
        instance_id=instance_id,
        sign_time=_timestamp(signed_at),
        signature=private_key.sign(heartbeat_payload(instance_id, signed_at)),
    )


def deregister_request(
    private_key: Ed25519PrivateKey, instance_id: str, sign_time: datetime | None = None
) -> pb.DeregisterInstanceRequest:
    signed_at = sign_time or _now()
    return pb.DeregisterInstanceRequest(
        instance_id=instance_id,
        sign_time=_timestamp(signed_at),
        signature=private_key.sign(deregistration_payload(instance_id, signed_at)),
    )


def create_proposal_request(
    private_key: Ed25519PrivateKey,
    *,
    proposer_id: str,
    topic: str,
    deadline: datetime,
    options: Sequence[str] = (),
    request_id: str | None = None,
) -> pb.CreateProposalRequest:
    request_id = request_id or str(uuid.uuid4())
    payload = proposal_payload(
        request_id=request_id,
        proposer_id=proposer_id,
        topic=topic,
        options=list(options) or list(DEFAULT_OPTIONS),
        deadline=deadline,
    )
    return pb.CreateProposalRequest(
        proposal=pb.Proposal(
            request_id=request_id,
            topic=topic,
            options=options,
            deadline=_timestamp(deadline),
            proposer_id=proposer_id,
            proposer_signature=private_key.sign(payload),
        )
    )


def vote_request(private_key: Ed25519PrivateKey, proposal_id: str, voter_id: str, choice: str) -> pb.VoteRequest:
    return pb.VoteRequest(
        proposal_id=proposal_id,
        voter_id=voter_id,
        choice=choice,
        signature=private_key.sign(vote_payload(proposal_id, voter_id, choice)),
    )


def reverify(proposal: pb.Proposal, enrollments: Iterable[Enrollment]) -> Outcome:
    """Re-derive a proposal's outcome from its full view, trusting nothing but the signatures and the enrolments.

    Checks that every elector (so every counted voter) was an enrolled voter, with the same name and key,
    when the proposal was created; the proposer's signature, every vote against the frozen electorate's
    keys, the tally and the quorum, every piece of equivocation evidence, and that the recorded state is
    what the counted votes give. ``enrollments`` are every enrolment, revoked ones included (`cerebro
    instances enrolled --all --json`). Returns the outcome; raises :class:`VerificationError` otherwise.
    """
    problems: list[str] = []
    created = proposal.create_time.ToDatetime(tzinfo=UTC)
    enrolled = list(enrollments)
    for elector in proposal.electorate:
        if not any(
            e.instance_name == elector.instance_name
            and e.public_key == elector.public_key
            and e.entitles_vote_at(created)
            for e in enrolled
        ):
            problems.append(
                f"elector {elector.instance_name} ({elector.instance_id}) was not an enrolled voter with that key "
                "when the proposal was created"
            )
    options = list(proposal.options)
    payload = proposal_payload(
        request_id=proposal.request_id,
        proposer_id=proposal.proposer_id,
        topic=proposal.topic,
        options=options,
        deadline=proposal.deadline.ToDatetime(tzinfo=UTC),
    )
    keys = {elector.instance_id: elector.public_key for elector in proposal.electorate}
    if len(keys) != proposal.electorate_size or len(proposal.electorate) != proposal.electorate_size:
        problems.append("the electorate does not have electorate_size distinct members")
    if proposal.quorum != quorum(len(keys)):
        problems.append(f"quorum is {proposal.quorum}, not ceil(2n/3) = {quorum(len(keys))}")
    voters = [vote.voter_id for vote in proposal.votes]
    if len(set(voters)) != len(voters):
        problems.append("a voter has more than one counted vote")
    for vote in proposal.votes:
        if not _signed_by_elector(keys, proposal.proposal_id, vote):
            problems.append(f"the vote of {vote.voter_id} is not validly signed by an elector")
        if vote.choice not in options:
            problems.append(f"the vote of {vote.voter_id} is for {vote.choice!r}, not an option")
    for evidence in proposal.equivocations:
        first, second = evidence.counted_vote, evidence.conflicting_vote
        valid = all(_signed_by_elector(keys, proposal.proposal_id, vote) for vote in (first, second))
        if not valid or first.voter_id != second.voter_id or first.choice == second.choice:
            problems.append(f"the equivocation evidence against {evidence.voter_id} does not hold")
    counts = Counter(vote.choice for vote in proposal.votes)
    recorded_tally = {entry.option: entry.votes for entry in proposal.tally}
    if recorded_tally != {option: counts.get(option, 0) for option in options}:
        problems.append("the tally does not match the counted votes")
    state = ProposalState(PROPOSAL_STATES[proposal.state])
    derived = outcome(len(keys), options, counts, deadline_passed=state is ProposalState.EXPIRED)
    if derived != Outcome(state, proposal.decided_option or None):
        problems.append(f"the votes give {derived}, but the proposal records {state.value} {proposal.decided_option!r}")
    if not verify(proposal.proposer_public_key, payload, proposal.proposer_signature):
        problems.append("the proposer's signature does not verify")
    if problems:
        raise VerificationError("; ".join(problems))
    return derived


def _signed_by_elector(keys: dict[str, bytes], proposal_id: str, vote: pb.SignedVote) -> bool:
    key = keys.get(vote.voter_id)
    return key is not None and verify(key, vote_payload(proposal_id, vote.voter_id, vote.choice), vote.signature)
