"""Proposals: creation with a frozen electorate, signed votes, reads, and the watch stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import grpc

from cerebro.consensus.names import PROPOSAL_STATES
from cerebro.consensus.rules import DEFAULT_OPTIONS, Ballot, ProposalState, VoteVerdict
from cerebro.consensus.signatures import SIGNATURE_BYTES
from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.runtime.errors import (
    already_exists,
    failed_precondition,
    invalid_argument,
    permission_denied,
    unauthenticated,
)
from cerebro.runtime.pagination import paginate
from cerebro.runtime.violations import Violations
from services.consensus.api.base import DEFAULT_PAGE_SIZE, ApiBase, canonical_id, timestamp
from services.consensus.events import PROPOSALS_CHANNEL
from services.consensus.store.proposals import NewProposal, ProposalFilter, ProposalRecord

MAX_TOPIC_CHARS = 4000
MIN_OPTIONS = 2
MAX_OPTIONS = 32
MAX_OPTION_CHARS = 200

_STATE_ENUM = {name: number for number, name in PROPOSAL_STATES.items()}
_VIEWS = {pb.PROPOSAL_VIEW_BASIC: pb.PROPOSAL_VIEW_BASIC, pb.PROPOSAL_VIEW_FULL: pb.PROPOSAL_VIEW_FULL}
_EVENTS = {
    "created": pb.PROPOSAL_EVENT_TYPE_CREATED,
    "voted": pb.PROPOSAL_EVENT_TYPE_VOTED,
    "equivocation": pb.PROPOSAL_EVENT_TYPE_EQUIVOCATION,
    "expired": pb.PROPOSAL_EVENT_TYPE_EXPIRED,
}


def proposal_message(record: ProposalRecord, view: int) -> pb.Proposal:
    """The proposal in ``view``; the full view needs a record loaded in full."""
    row = record.row
    message = pb.Proposal(
        proposal_id=str(row["consensus_id"]),
        request_id=str(row["request_id"]),
        topic=row["decision_topic"],
        options=row["options"],
        deadline=timestamp(row["deadline"]),
        proposer_id=str(row["proposed_by"]),
        proposer_signature=row["proposer_signature"],
        proposer_public_key=row["proposer_public_key"],
        state=_STATE_ENUM[row["state"]],
        decided_option=row["final_decision"] or "",
        electorate_size=row["electorate_size"],
        quorum=row["quorum"],
        tally=[pb.OptionTally(option=option, votes=record.tally.get(option, 0)) for option in row["options"]],
        create_time=timestamp(row["created_at"]),
    )
    if row["resolved_at"] is not None:
        message.resolve_time.CopyFrom(timestamp(row["resolved_at"]))
    if view == pb.PROPOSAL_VIEW_FULL:
        assert record.full, "the full view needs a proposal loaded in full"
        message.electorate.extend(
            pb.Elector(
                instance_id=str(elector["instance_id"]),
                instance_name=elector["instance_name"],
                public_key=elector["public_key"],
            )
            for elector in record.electors
        )
        message.votes.extend(
            _signed_vote(vote["voter_id"], vote["choice"], vote["signature"], vote["cast_at"]) for vote in record.votes
        )
        message.equivocations.extend(
            pb.Equivocation(
                voter_id=str(evidence["voter_id"]),
                counted_vote=_signed_vote(
                    evidence["voter_id"],
                    evidence["counted_choice"],
                    evidence["counted_signature"],
                    evidence["counted_cast_at"],
                ),
                conflicting_vote=_signed_vote(
                    evidence["voter_id"], evidence["choice"], evidence["signature"], evidence["detected_at"]
                ),
            )
            for evidence in record.equivocations
        )
    return message


def _signed_vote(voter_id: object, choice: str, signature: bytes, cast_at: datetime) -> pb.SignedVote:
    return pb.SignedVote(voter_id=str(voter_id), choice=choice, signature=signature, cast_time=timestamp(cast_at))


def parse_new_proposal(request: pb.CreateProposalRequest, now: datetime, max_lifetime: timedelta) -> NewProposal:
    violations = Violations()
    proposal = request.proposal
    request_id = canonical_id(violations, "proposal.request_id", proposal.request_id)
    topic = violations.text("proposal.topic", proposal.topic, max_chars=MAX_TOPIC_CHARS)
    options = violations.distinct_texts(
        "proposal.options",
        proposal.options or DEFAULT_OPTIONS,
        min_items=MIN_OPTIONS,
        max_items=MAX_OPTIONS,
        max_chars=MAX_OPTION_CHARS,
    )
    deadline = violations.timestamp(
        "proposal.deadline", proposal.deadline, present=proposal.HasField("deadline"), required=True
    )
    if deadline is not None:
        if deadline <= now:
            violations.add("proposal.deadline", "must be in the future")
        elif deadline - now > max_lifetime:
            violations.add("proposal.deadline", f"must be at most {max_lifetime.total_seconds():.0f} s away")
    proposer_id = canonical_id(violations, "proposal.proposer_id", proposal.proposer_id)
    signature = violations.exact_bytes(
        "proposal.proposer_signature", proposal.proposer_signature, size=SIGNATURE_BYTES, what="an Ed25519 signature"
    )
    violations.raise_if_any()
    assert deadline is not None  # a missing one was reported above
    return NewProposal(request_id, topic, options, deadline, proposer_id, signature)


def parse_ballot(request: pb.VoteRequest) -> Ballot:
    violations = Violations()
    proposal_id = canonical_id(violations, "proposal_id", request.proposal_id)
    voter_id = canonical_id(violations, "voter_id", request.voter_id)
    violations.required("choice", bool(request.choice))
    signature = violations.exact_bytes(
        "signature", request.signature, size=SIGNATURE_BYTES, what="an Ed25519 signature"
    )
    violations.raise_if_any()
    return Ballot(proposal_id, voter_id, request.choice, signature)


def _view(
    violations: Violations, value: pb.ProposalView.ValueType, default: pb.ProposalView.ValueType
) -> pb.ProposalView.ValueType:
    return violations.enum("view", value, _VIEWS) or default


class ProposalsApi(ApiBase):
    async def CreateProposal(
        self,
        request: pb.CreateProposalRequest,
        context: grpc.aio.ServicerContext[pb.CreateProposalRequest, pb.CreateProposalResponse],
    ) -> pb.CreateProposalResponse:
        max_lifetime = timedelta(seconds=self.resources.settings.max_proposal_seconds)
        new = parse_new_proposal(request, datetime.now(UTC), max_lifetime)
        record = await self.resources.proposals.create(new)
        return pb.CreateProposalResponse(proposal=proposal_message(record, pb.PROPOSAL_VIEW_FULL))

    async def Vote(
        self, request: pb.VoteRequest, context: grpc.aio.ServicerContext[pb.VoteRequest, pb.VoteResponse]
    ) -> pb.VoteResponse:
        ballot = parse_ballot(request)
        result = await self.resources.proposals.cast_vote(ballot)
        verdict = result.verdict
        if verdict is VoteVerdict.NOT_ELECTOR:
            raise permission_denied(f"instance {ballot.voter_id} is not in the electorate of this proposal")
        if verdict is VoteVerdict.BAD_SIGNATURE:
            raise unauthenticated("signature does not verify with the voter's key")
        if verdict is VoteVerdict.UNKNOWN_CHOICE:
            raise invalid_argument([("choice", f"{ballot.choice!r} is not one of the proposal's options")])
        if verdict is VoteVerdict.EQUIVOCATION:
            raise already_exists(
                "vote",
                f"{ballot.proposal_id}/{ballot.voter_id}",
                "the voter already voted for another option; this conflicting vote was refused and kept as "
                "equivocation evidence",
            )
        proposal = result.proposal
        assert proposal is not None  # only the verdicts refused above come without the proposal
        if verdict is VoteVerdict.CLOSED:
            raise failed_precondition(
                f"the proposal is {proposal.state.value} and accepts no more votes",
                "PROPOSAL_CLOSED",
                ballot.proposal_id,
            )
        return pb.VoteResponse(proposal=proposal_message(proposal, pb.PROPOSAL_VIEW_BASIC))

    async def GetProposal(
        self,
        request: pb.GetProposalRequest,
        context: grpc.aio.ServicerContext[pb.GetProposalRequest, pb.GetProposalResponse],
    ) -> pb.GetProposalResponse:
        violations = Violations()
        proposal_id = canonical_id(violations, "proposal_id", request.proposal_id)
        view = _view(violations, request.view, pb.PROPOSAL_VIEW_FULL)
        violations.raise_if_any()
        record = await self.resources.proposals.get(proposal_id, full=view == pb.PROPOSAL_VIEW_FULL)
        return pb.GetProposalResponse(proposal=proposal_message(record, view))

    async def ListProposals(
        self,
        request: pb.ListProposalsRequest,
        context: grpc.aio.ServicerContext[pb.ListProposalsRequest, pb.ListProposalsResponse],
    ) -> pb.ListProposalsResponse:
        violations = Violations()
        page_size = violations.page_size("page_size", request.page_size, default=DEFAULT_PAGE_SIZE)
        state = violations.enum("state", request.state, PROPOSAL_STATES)
        proposer_id = canonical_id(violations, "proposer_id", request.proposer_id, required=False)
        view = _view(violations, request.view, pb.PROPOSAL_VIEW_BASIC)
        violations.raise_if_any()
        where = ProposalFilter(state=state, proposer_id=proposer_id or None)
        page = await paginate(
            request,
            page_size=page_size,
            kinds=("time", "uuid"),
            fetch=partial(self.resources.proposals.list_proposals, where, full=view == pb.PROPOSAL_VIEW_FULL),
            key=lambda record: (record.row["created_at"], record.row["consensus_id"]),
        )
        return pb.ListProposalsResponse(
            proposals=[proposal_message(record, view) for record in page.items], next_page_token=page.next_page_token
        )

    async def WatchProposals(
        self,
        request: pb.WatchProposalsRequest,
        context: grpc.aio.ServicerContext[pb.WatchProposalsRequest, pb.WatchProposalsResponse],
    ) -> AsyncIterator[pb.WatchProposalsResponse]:
        violations = Violations()
        proposal_id = canonical_id(violations, "proposal_id", request.proposal_id, required=False) or None
        view = _view(violations, request.view, pb.PROPOSAL_VIEW_BASIC)
        violations.raise_if_any()
        full = view == pb.PROPOSAL_VIEW_FULL
        proposals = self.resources.proposals
        async with self.resources.hub.subscribe(PROPOSALS_CHANNEL, proposal_id) as subscription:
            if proposal_id is not None:
                existing = [await proposals.get(proposal_id, full=full)]
            else:
                open_only = ProposalFilter(state=ProposalState.OPEN.value, proposer_id=None)
                existing = await proposals.list_proposals(open_only, None, None, full=full)
            for record in existing:
                yield pb.WatchProposalsResponse(
                    event_type=pb.PROPOSAL_EVENT_TYPE_EXISTING, proposal=proposal_message(record, view)
                )
                if _ends_watch(proposal_id, record):
                    return
            while True:
                delivery = await subscription.next()
                record = delivery.subject
                yield pb.WatchProposalsResponse(
                    event_type=_EVENTS[delivery.change.event], proposal=proposal_message(record, view)
                )
                if _ends_watch(proposal_id, record):
                    return


def _ends_watch(watched_id: str | None, record: ProposalRecord) -> bool:
    """A watch of one proposal ends once that proposal has its outcome."""
    return watched_id is not None and record.state is not ProposalState.OPEN
