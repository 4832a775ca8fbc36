"""The canonical signed payloads (pinned byte for byte) and the voting rules on chosen examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cerebro.consensus.rules import Ballot, Outcome, ProposalState, VoteVerdict, judge_vote, outcome, quorum
from cerebro.consensus.signatures import (
    deregistration_payload,
    epoch_microseconds,
    heartbeat_payload,
    proposal_payload,
    registration_payload,
    verify,
    vote_payload,
)

PROPOSAL = "6f1c2b9e-4d0a-4c7e-9b1f-2a3b4c5d6e7f"
VOTER = "0e9d8c7b-6a59-4877-8695-a4b3c2d1e0f9"


def test_vote_payload_is_the_documented_layout() -> None:
    assert vote_payload(PROPOSAL, VOTER, "yes") == (
        b"cerebro.consensus.v1.Vote\x00"
        + b"\x00\x00\x00\x24"
        + PROPOSAL.encode()
        + b"\x00\x00\x00\x24"
        + VOTER.encode()
        + b"\x00\x00\x00\x03yes"
    )


def test_registration_payload_is_the_documented_layout() -> None:
    sign_time = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    payload = registration_payload(
        instance_name="NEXUS",
        instance_type="primary",
        region="eu",
        capabilities=["memory", "vote"],
        endpoints=[],
        public_key=b"\x01" * 32,
        voting=True,
        sign_time=sign_time,
    )
    assert payload == (
        b"cerebro.consensus.v1.RegisterInstance\x00"
        + b"\x00\x00\x00\x05NEXUS"
        + b"\x00\x00\x00\x07primary"
        + b"\x00\x00\x00\x02eu"
        + b"\x00\x00\x00\x02"
        + b"\x00\x00\x00\x06memory"
        + b"\x00\x00\x00\x04vote"
        + b"\x00\x00\x00\x00"
        + b"\x00\x00\x00\x20"
        + b"\x01" * 32
        + b"\x01"
        + (1_893_553_445_678_901).to_bytes(8, "big", signed=True)
    )


def test_payloads_of_different_requests_differ() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    # Length prefixes keep field boundaries: moving a character across fields changes the bytes.
    assert vote_payload(PROPOSAL, VOTER, "ab") != vote_payload(PROPOSAL, VOTER + "a", "b")
    assert heartbeat_payload(VOTER, when) != heartbeat_payload(VOTER, when.replace(microsecond=1))
    # The tag separates kinds that share a layout: a signed heartbeat is no deregistration.
    assert heartbeat_payload(VOTER, when) != deregistration_payload(VOTER, when)
    options_a = proposal_payload(request_id=PROPOSAL, proposer_id=VOTER, topic="t", options=["a,b"], deadline=when)
    options_b = proposal_payload(request_id=PROPOSAL, proposer_id=VOTER, topic="t", options=["a", "b"], deadline=when)
    assert options_a != options_b


def test_epoch_microseconds_is_exact_far_from_the_epoch() -> None:
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert epoch_microseconds(last) == 253_402_300_799_999_999
    assert epoch_microseconds(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == -1


def test_verify_accepts_only_the_signed_payload_and_never_raises() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    signature = key.sign(b"payload")
    assert verify(public, b"payload", signature)
    assert not verify(public, b"payload!", signature)
    assert not verify(public, b"payload", signature[:-1] + bytes([signature[-1] ^ 1]))
    assert not verify(public[:31], b"payload", signature)
    assert not verify(public, b"payload", signature[:63])


@pytest.mark.parametrize(
    ("electorate", "needed"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 4), (6, 4), (7, 5), (9, 6), (10, 7), (50, 34)]
)
def test_quorum_is_ceil_of_two_thirds(electorate: int, needed: int) -> None:
    assert quorum(electorate) == needed


def test_outcome_decides_rejects_and_expires() -> None:
    options = ["yes", "no"]
    assert outcome(7, options, {"yes": 4, "no": 2}, deadline_passed=False) == Outcome(ProposalState.OPEN)
    assert outcome(7, options, {"yes": 5}, deadline_passed=False) == Outcome(ProposalState.DECIDED, "yes")
    # 3 "no" votes out of 7 leave "yes" at most 4 < 5, and "no" at most 3 + 1 < 5.
    assert outcome(7, options, {"yes": 3, "no": 3}, deadline_passed=False) == Outcome(ProposalState.REJECTED)
    assert outcome(7, options, {"yes": 2, "no": 2}, deadline_passed=False) == Outcome(ProposalState.OPEN)
    assert outcome(7, options, {"yes": 2, "no": 2}, deadline_passed=True) == Outcome(ProposalState.EXPIRED)
    # A decision or rejection reached before the deadline stands after it.
    assert outcome(7, options, {"yes": 5}, deadline_passed=True) == Outcome(ProposalState.DECIDED, "yes")
    three = ["a", "b", "c"]
    assert outcome(3, three, {"a": 1, "b": 1, "c": 1}, deadline_passed=False) == Outcome(ProposalState.REJECTED)


def test_judge_vote_verdicts() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()

    def ballot(choice: str) -> Ballot:
        return Ballot(PROPOSAL, VOTER, choice, key.sign(vote_payload(PROPOSAL, VOTER, choice)))

    def judge(
        vote: Ballot, counted: Ballot | None = None, *, accepting: bool = True, elector: bool = True
    ) -> VoteVerdict:
        return judge_vote(
            vote, elector_key=public if elector else None, options=["yes", "no"], counted=counted, accepting=accepting
        )

    yes, no = ballot("yes"), ballot("no")
    assert judge(yes) is VoteVerdict.ACCEPTED
    assert judge(yes, elector=False) is VoteVerdict.NOT_ELECTOR
    assert judge(Ballot(PROPOSAL, VOTER, "yes", no.signature)) is VoteVerdict.BAD_SIGNATURE
    assert judge(ballot("maybe")) is VoteVerdict.UNKNOWN_CHOICE
    assert judge(yes, yes) is VoteVerdict.REPEATED
    assert judge(no, yes) is VoteVerdict.EQUIVOCATION
    assert judge(yes, accepting=False) is VoteVerdict.CLOSED
    # The voter's own vote again, or a conflicting one, is judged even after the outcome.
    assert judge(yes, yes, accepting=False) is VoteVerdict.REPEATED
    assert judge(no, yes, accepting=False) is VoteVerdict.EQUIVOCATION
