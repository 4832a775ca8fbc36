"""`cerebro.consensus.v1.ConsensusService`: validation at the edge, storage, rows to messages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc

from cerebro.consensus.rules import ProposalState, VoteVerdict
from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.consensus.v1 import consensus_pb2_grpc
from cerebro.runtime.errors import (
    already_exists,
    failed_precondition,
    invalid_argument,
    permission_denied,
    unauthenticated,
)
from cerebro.runtime.roles import peer_role
from services.consensus import convert
from services.consensus.events import INSTANCES_CHANNEL, PROPOSALS_CHANNEL, EventHub
from services.consensus.pagination import decode_page_token, encode_page_token
from services.consensus.settings import ConsensusSettings
from services.consensus.store.proposals import ProposalRecord, Proposals
from services.consensus.store.registry import Registry
from services.consensus.validation import (
    InstanceFilter,
    ProposalFilter,
    parse_ballot,
    parse_instance_filter,
    parse_instance_id,
    parse_new_proposal,
    parse_page_size,
    parse_proposal_filter,
    parse_proposal_id,
    parse_registration,
    parse_signed_instance_request,
    parse_view,
)

_INSTANCE_EVENTS = {
    "registered": pb.INSTANCE_EVENT_TYPE_REGISTERED,
    "status_changed": pb.INSTANCE_EVENT_TYPE_STATUS_CHANGED,
    "deregistered": pb.INSTANCE_EVENT_TYPE_DEREGISTERED,
}
_PROPOSAL_EVENTS = {
    "created": pb.PROPOSAL_EVENT_TYPE_CREATED,
    "voted": pb.PROPOSAL_EVENT_TYPE_VOTED,
    "equivocation": pb.PROPOSAL_EVENT_TYPE_EQUIVOCATION,
    "expired": pb.PROPOSAL_EVENT_TYPE_EXPIRED,
}


class ConsensusServicer(consensus_pb2_grpc.ConsensusServiceServicer):
    def __init__(
        self,
        registry: Registry,
        proposals: Proposals,
        hub: EventHub,
        settings: ConsensusSettings,
        *,
        roles_verified: bool,
    ) -> None:
        """``roles_verified``: the server requires client certificates, so the caller's role is known."""
        self._roles_verified = roles_verified
        self._registry = registry
        self._proposals = proposals
        self._hub = hub
        self._settings = settings

    async def RegisterInstance(
        self, request: pb.RegisterInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterInstanceResponse:
        registration = parse_registration(request)
        row, created = await self._registry.register(registration, peer_role(context), self._roles_verified)
        return pb.RegisterInstanceResponse(
            instance=convert.instance(row), created=created, lease_ttl_seconds=self._settings.lease_ttl_seconds
        )

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: grpc.aio.ServicerContext) -> pb.HeartbeatResponse:
        row = await self._registry.heartbeat(parse_signed_instance_request(request))
        return pb.HeartbeatResponse(instance=convert.instance(row), lease_ttl_seconds=self._settings.lease_ttl_seconds)

    async def DeregisterInstance(
        self, request: pb.DeregisterInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeregisterInstanceResponse:
        row = await self._registry.deregister(parse_signed_instance_request(request))
        return pb.DeregisterInstanceResponse(instance=convert.instance(row))

    async def GetInstance(
        self, request: pb.GetInstanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetInstanceResponse:
        row = await self._registry.get(parse_instance_id(request.instance_id))
        return pb.GetInstanceResponse(instance=convert.instance(row))

    async def ListInstances(
        self, request: pb.ListInstancesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInstancesResponse:
        page_size = parse_page_size(request.page_size)
        where = parse_instance_filter(request)
        filters = (where.status, where.region, where.capability)
        position = decode_page_token(request.page_token, filters, length=1)
        rows = await self._registry.list_instances(where, position[0] if position else None, page_size + 1)
        next_token = ""
        if len(rows) > page_size:
            rows = rows[:page_size]
            next_token = encode_page_token([rows[-1]["instance_name"]], filters)
        return pb.ListInstancesResponse(instances=[convert.instance(row) for row in rows], next_page_token=next_token)

    async def WatchInstances(
        self, request: pb.WatchInstancesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchInstancesResponse]:
        # Subscribe before reading the snapshot, so no change between the two is missed.
        async with self._hub.subscribe(INSTANCES_CHANNEL) as subscription:
            everyone = InstanceFilter(status=None, region=None, capability=None)
            for row in await self._registry.list_instances(everyone, None, None):
                yield pb.WatchInstancesResponse(
                    event_type=pb.INSTANCE_EVENT_TYPE_EXISTING, instance=convert.instance(row)
                )
            while True:
                delivery = await subscription.next()
                yield pb.WatchInstancesResponse(
                    event_type=_INSTANCE_EVENTS[delivery.change.event], instance=convert.instance(delivery.subject)
                )

    async def CreateProposal(
        self, request: pb.CreateProposalRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateProposalResponse:
        now = datetime.now(UTC)
        new = parse_new_proposal(request, now, timedelta(seconds=self._settings.max_proposal_seconds))
        record = await self._proposals.create(new)
        return pb.CreateProposalResponse(proposal=convert.proposal(record, pb.PROPOSAL_VIEW_FULL))

    async def Vote(self, request: pb.VoteRequest, context: grpc.aio.ServicerContext) -> pb.VoteResponse:
        ballot = parse_ballot(request)
        result = await self._proposals.cast_vote(ballot)
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
        if verdict is VoteVerdict.CLOSED:
            raise failed_precondition(
                f"the proposal is {result.proposal.state.value} and accepts no more votes",
                "PROPOSAL_CLOSED",
                ballot.proposal_id,
            )
        return pb.VoteResponse(proposal=convert.proposal(result.proposal, pb.PROPOSAL_VIEW_BASIC))

    async def GetProposal(
        self, request: pb.GetProposalRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetProposalResponse:
        proposal_id = parse_proposal_id(request.proposal_id)
        view = parse_view(request.view, pb.PROPOSAL_VIEW_FULL)
        record = await self._proposals.get(proposal_id, full=view == pb.PROPOSAL_VIEW_FULL)
        return pb.GetProposalResponse(proposal=convert.proposal(record, view))

    async def ListProposals(
        self, request: pb.ListProposalsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListProposalsResponse:
        page_size = parse_page_size(request.page_size)
        where = parse_proposal_filter(request)
        view = parse_view(request.view, pb.PROPOSAL_VIEW_BASIC)
        filters = (where.state, where.proposer_id)
        position = decode_page_token(request.page_token, filters, length=2)
        after = None
        if position is not None:
            try:
                after = (datetime.fromisoformat(position[0]), uuid.UUID(position[1]))
            except ValueError:
                raise invalid_argument([("page_token", "is not a token returned by this method")]) from None
        records = await self._proposals.list_proposals(where, after, page_size + 1, full=view == pb.PROPOSAL_VIEW_FULL)
        next_token = ""
        if len(records) > page_size:
            records = records[:page_size]
            last = records[-1].row
            next_token = encode_page_token([last["created_at"].isoformat(), str(last["consensus_id"])], filters)
        return pb.ListProposalsResponse(
            proposals=[convert.proposal(record, view) for record in records], next_page_token=next_token
        )

    async def WatchProposals(
        self, request: pb.WatchProposalsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchProposalsResponse]:
        proposal_id = parse_proposal_id(request.proposal_id, required=False) or None
        view = parse_view(request.view, pb.PROPOSAL_VIEW_BASIC)
        async with self._hub.subscribe(PROPOSALS_CHANNEL, proposal_id) as subscription:
            full = view == pb.PROPOSAL_VIEW_FULL
            if proposal_id is not None:
                existing = [await self._proposals.get(proposal_id, full=full)]
            else:
                open_only = ProposalFilter(state=ProposalState.OPEN.value, proposer_id=None)
                existing = await self._proposals.list_proposals(open_only, None, None, full=full)
            for record in existing:
                yield pb.WatchProposalsResponse(
                    event_type=pb.PROPOSAL_EVENT_TYPE_EXISTING, proposal=convert.proposal(record, view)
                )
                if _ends_watch(proposal_id, record):
                    return
            while True:
                delivery = await subscription.next()
                record = delivery.subject
                yield pb.WatchProposalsResponse(
                    event_type=_PROPOSAL_EVENTS[delivery.change.event], proposal=convert.proposal(record, view)
                )
                if _ends_watch(proposal_id, record):
                    return


def _ends_watch(watched_id: str | None, record: ProposalRecord) -> bool:
    """A watch of one proposal ends once that proposal has its outcome."""
    return watched_id is not None and record.state is not ProposalState.OPEN
