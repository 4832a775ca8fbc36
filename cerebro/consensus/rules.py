"""The voting rules, free of I/O: quorum, the outcome of a tally, and the verdict on one vote.

Storage applies these functions inside the transaction that holds the proposal's row lock, so the
rules proven by the property tests are the ones every replica enforces.

Why ceil(2n/3): two different options can only both reach the quorum q if 2q <= n, which never
holds; and two observers that see different votes from equivocating voters still agree, because
any two quorums share at least 2q - n >= n/3 electors, more than a dishonest minority f < n/3.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cerebro.consensus.signatures import verify, vote_payload

DEFAULT_OPTIONS = ("yes", "no")


class ProposalState(enum.StrEnum):
    OPEN = "open"
    DECIDED = "decided"
    REJECTED = "rejected"
    EXPIRED = "expired"


class VoteVerdict(enum.Enum):
    ACCEPTED = "accepted"
    REPEATED = "repeated"  # the voter's counted vote again: idempotent success
    EQUIVOCATION = "equivocation"  # a validly signed vote for another option: refused, kept as evidence
    NOT_ELECTOR = "not_elector"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_CHOICE = "unknown_choice"
    CLOSED = "closed"  # the proposal has its outcome or its deadline passed


@dataclass(frozen=True)
class Outcome:
    state: ProposalState
    decided_option: str | None = None


@dataclass(frozen=True)
class Ballot:
    """A vote as cast: who, for what, and the signature over the canonical vote payload."""

    proposal_id: str
    voter_id: str
    choice: str
    signature: bytes


def quorum(electorate_size: int) -> int:
    """ceil(2n/3) in integer arithmetic."""
    return (2 * electorate_size + 2) // 3


def outcome(
    electorate_size: int, options: Sequence[str], counts: Mapping[str, int], *, deadline_passed: bool
) -> Outcome:
    """The state of a proposal given its counted votes.

    Decided as soon as an option has a quorum; rejected as soon as no option can still reach it
    with the electors who have not voted; otherwise expired once the deadline passed, else open.
    """
    needed = quorum(electorate_size)
    for option in options:
        if counts.get(option, 0) >= needed:
            return Outcome(ProposalState.DECIDED, option)
    not_voted = electorate_size - sum(counts.values())
    if all(counts.get(option, 0) + not_voted < needed for option in options):
        return Outcome(ProposalState.REJECTED)
    if deadline_passed:
        return Outcome(ProposalState.EXPIRED)
    return Outcome(ProposalState.OPEN)


def judge_vote(
    ballot: Ballot,
    *,
    elector_key: bytes | None,
    options: Sequence[str],
    counted: Ballot | None,
    accepting: bool,
) -> VoteVerdict:
    """The verdict on ``ballot``.

    ``elector_key`` is the voter's key in the frozen electorate (None: not an elector); ``counted``
    is the voter's vote already counted on this proposal; ``accepting`` is whether the proposal is
    open and before its deadline. A voter's repeated or conflicting vote is judged before the
    proposal's state, so a retry after the deciding vote still succeeds and a late equivocation
    is still recorded.
    """
    if elector_key is None:
        return VoteVerdict.NOT_ELECTOR
    if not verify(elector_key, vote_payload(ballot.proposal_id, ballot.voter_id, ballot.choice), ballot.signature):
        return VoteVerdict.BAD_SIGNATURE
    if ballot.choice not in options:
        return VoteVerdict.UNKNOWN_CHOICE
    if counted is not None:
        return VoteVerdict.REPEATED if counted.choice == ballot.choice else VoteVerdict.EQUIVOCATION
    return VoteVerdict.ACCEPTED if accepting else VoteVerdict.CLOSED
