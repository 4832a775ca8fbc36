"""Property tests of the voting rules against a dishonest minority (f < n/3) that equivocates and forges.

Each observer below is one view of a proposal: it applies `judge_vote` and `outcome` to the ballots it
receives, in the order it receives them, and checks after every ballot that its outcome never changes
once reached and never comes before a quorum. Dishonest voters may show different votes to different
observers; votes may arrive in any order, and some honest votes may never arrive: even then no two
observers decide different options.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebro.consensus.rules import Ballot, Outcome, ProposalState, VoteVerdict, judge_vote, outcome, quorum
from cerebro.consensus.signatures import vote_payload

MAX_ELECTORATE = 50
# Keys are costly to make; every example draws its electorate from this fixed pool.
KEYS = [Ed25519PrivateKey.generate() for _ in range(MAX_ELECTORATE + 1)]
VOTER_IDS = [str(uuid.UUID(int=index + 1)) for index in range(MAX_ELECTORATE + 1)]
OUTSIDER = MAX_ELECTORATE  # index of a key that is never in an electorate


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


PUBLIC_KEYS = [public_bytes(key) for key in KEYS]


def signed(proposal_id: str, voter: int, choice: str, *, signer: int | None = None) -> Ballot:
    """A ballot in the name of ``voter``, signed by ``signer`` (the voter itself unless forged)."""
    key = KEYS[voter if signer is None else signer]
    voter_id = VOTER_IDS[voter]
    return Ballot(proposal_id, voter_id, choice, key.sign(vote_payload(proposal_id, voter_id, choice)))


@dataclass
class Observer:
    """One replica's view of a proposal, checking the invariants after every ballot."""

    proposal_id: str
    electorate: Mapping[str, bytes]
    options: Sequence[str]
    counted: dict[str, Ballot] = field(default_factory=dict)
    evidence: list[tuple[Ballot, Ballot]] = field(default_factory=list)
    current: Outcome = field(default_factory=lambda: Outcome(ProposalState.OPEN))

    def receive(self, ballot: Ballot) -> VoteVerdict:
        before = self.current
        verdict = judge_vote(
            ballot,
            elector_key=self.electorate.get(ballot.voter_id),
            options=self.options,
            counted=self.counted.get(ballot.voter_id),
            accepting=before.state is ProposalState.OPEN,
        )
        if verdict is VoteVerdict.ACCEPTED:
            self.counted[ballot.voter_id] = ballot
            self.current = outcome(len(self.electorate), self.options, self.tally(), deadline_passed=False)
        elif verdict is VoteVerdict.EQUIVOCATION:
            self.evidence.append((self.counted[ballot.voter_id], ballot))
        self._check_invariants(before)
        return verdict

    def tally(self) -> Counter[str]:
        return Counter(ballot.choice for ballot in self.counted.values())

    def _check_invariants(self, before: Outcome) -> None:
        needed = quorum(len(self.electorate))
        counts = self.tally()
        if before.state is not ProposalState.OPEN:
            assert self.current == before, "an outcome never changes"
        if self.current.state is ProposalState.DECIDED:
            assert counts[self.current.decided_option] >= needed, "never decided before quorum"
        not_voted = len(self.electorate) - len(self.counted)
        can_still_reach = any(counts[option] + not_voted >= needed for option in self.options)
        if self.current.state is ProposalState.REJECTED:
            assert not can_still_reach, "rejected only when no option can reach the quorum"
        if self.current.state is ProposalState.OPEN:
            assert can_still_reach and max(counts.values(), default=0) < needed
        assert len(self.counted) <= len(self.electorate)


@dataclass(frozen=True)
class Scenario:
    proposal_id: str
    options: list[str]
    electorate: dict[str, bytes]
    honest: list[int]
    dishonest: list[int]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    size = draw(st.integers(min_value=1, max_value=MAX_ELECTORATE))
    dishonest_count = draw(st.integers(min_value=0, max_value=(size - 1) // 3))  # f < n/3
    voters = list(range(size))
    dishonest = draw(st.permutations(voters))[:dishonest_count]
    options = draw(st.sampled_from([["yes", "no"], ["yes", "no", "abstain"], ["a", "b", "c", "d"]]))
    return Scenario(
        proposal_id=str(uuid.UUID(bytes=draw(st.binary(min_size=16, max_size=16)), version=4)),
        options=options,
        electorate={VOTER_IDS[voter]: PUBLIC_KEYS[voter] for voter in voters},
        honest=[voter for voter in voters if voter not in dishonest],
        dishonest=sorted(dishonest),
    )


def forgeries(draw: st.DrawFn, scenario: Scenario) -> list[Ballot]:
    """Ballots that must never count: wrong signer, random bytes, replayed or altered signatures."""
    pid, options = scenario.proposal_id, scenario.options
    forged: list[Ballot] = []
    for forger in scenario.dishonest:
        victim = draw(st.sampled_from(scenario.honest))
        choice = draw(st.sampled_from(options))
        forged.append(signed(pid, victim, choice, signer=forger))
        forged.append(Ballot(pid, VOTER_IDS[victim], choice, os.urandom(64)))
        other_proposal = str(uuid.uuid4())
        replayed = signed(other_proposal, victim, choice)
        forged.append(Ballot(pid, replayed.voter_id, choice, replayed.signature))
        original = signed(pid, forger, options[0])
        forged.append(Ballot(pid, original.voter_id, options[1], original.signature))
    forged.append(signed(pid, OUTSIDER, options[0]))  # a valid signature from outside the electorate
    return forged


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_observers_never_reach_two_different_decisions(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    pid, options = scenario.proposal_id, scenario.options
    # The adversary's best chance: honest votes split between two options x and y, and every
    # dishonest voter shows x to one observer and y to the other (sometimes both, in either order).
    x, y = data.draw(st.permutations(options))[:2]
    honest_votes = [signed(pid, voter, data.draw(st.sampled_from([x, y]))) for voter in scenario.honest]
    views: list[list[Ballot]] = [[], []]
    for voter in scenario.dishonest:
        views[0] += [signed(pid, voter, x)] + ([signed(pid, voter, y)] if data.draw(st.booleans()) else [])
        views[1] += [signed(pid, voter, y)] + ([signed(pid, voter, x)] if data.draw(st.booleans()) else [])
    outcomes = []
    for view in views:
        lost = data.draw(st.sets(st.sampled_from(range(len(honest_votes))), max_size=len(honest_votes) // 4))
        delivered = [vote for index, vote in enumerate(honest_votes) if index not in lost]
        delivered += view + forgeries(data.draw, scenario)
        observer = Observer(pid, scenario.electorate, options)
        verdicts = [observer.receive(ballot) for ballot in data.draw(st.permutations(delivered))]
        assert verdicts.count(VoteVerdict.ACCEPTED) == len(observer.counted)
        outcomes.append(observer.current)
    decided = {result.decided_option for result in outcomes if result.state is ProposalState.DECIDED}
    assert len(decided) <= 1


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_honest_supermajority_always_decides(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    pid, options = scenario.proposal_id, scenario.options
    agreed = data.draw(st.sampled_from(options))
    ballots = [signed(pid, voter, agreed) for voter in scenario.honest]
    for voter in scenario.dishonest:
        chosen = data.draw(st.lists(st.sampled_from(options), min_size=1, max_size=len(options), unique=True))
        ballots += [signed(pid, voter, choice) for choice in chosen]
    ballots += forgeries(data.draw, scenario)
    observer = Observer(pid, scenario.electorate, options)
    for ballot in data.draw(st.permutations(ballots)):
        observer.receive(ballot)
    assert observer.current == Outcome(ProposalState.DECIDED, agreed)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_forged_votes_never_count_and_equivocation_leaves_evidence(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    pid, options = scenario.proposal_id, scenario.options
    observer = Observer(pid, scenario.electorate, options)
    for ballot in data.draw(st.permutations(forgeries(data.draw, scenario))):
        verdict = observer.receive(ballot)
        expected = VoteVerdict.NOT_ELECTOR if ballot.voter_id not in scenario.electorate else VoteVerdict.BAD_SIGNATURE
        assert verdict is expected
    assert not observer.counted
    # f < n/3 votes can neither decide nor reject, so the proposal stays open throughout.
    for voter in scenario.dishonest:
        assert observer.receive(signed(pid, voter, options[0])) is VoteVerdict.ACCEPTED
        assert observer.receive(signed(pid, voter, options[0])) is VoteVerdict.REPEATED
        assert observer.receive(signed(pid, voter, options[1])) is VoteVerdict.EQUIVOCATION
    assert observer.current.state is ProposalState.OPEN
    assert [(first.choice, second.choice) for first, second in observer.evidence] == [(options[0], options[1])] * len(
        scenario.dishonest
    )
    assert [first.voter_id for first, _ in observer.evidence] == [VOTER_IDS[voter] for voter in scenario.dishonest]
