"""Decisions of the instance network: propose, vote, get and watch.

The gateway never signs for an instance: proposals and votes arrive signed by the instance's own
Ed25519 key and are forwarded as they are. The gateway only checks that the signer is the instance
the caller's credential is bound to, so one agent's key cannot be used to act as another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from cerebro.consensus.v1 import consensus_pb2
from cerebro.gateway.v1 import gateway_pb2 as pb
from services.gateway.api.base import ApiBase
from services.gateway.call import current_call
from services.gateway.downstream import relayed_error

PROPOSAL_FIELDS = {"proposal": ""}


class DecisionsApi(ApiBase):
    async def Propose(self, request: pb.ProposeRequest, context: grpc.aio.ServicerContext) -> pb.ProposeResponse:
        await self.check_acts_for(request.proposer_id, "proposer_id")
        proposal = consensus_pb2.Proposal(
            request_id=request.request_id,
            topic=request.topic,
            options=request.options,
            deadline=request.deadline,
            proposer_id=request.proposer_id,
            proposer_signature=request.proposer_signature,
        )
        downstream = consensus_pb2.CreateProposalRequest(proposal=proposal)
        # Idempotent: the request id makes a retry return the same proposal.
        response = await self.consensus(
            lambda stub, timeout: stub.CreateProposal(downstream, timeout=timeout),
            idempotent=True,
            fields=PROPOSAL_FIELDS,
        )
        return pb.ProposeResponse(proposal=response.proposal)

    async def Vote(self, request: pb.VoteRequest, context: grpc.aio.ServicerContext) -> pb.VoteResponse:
        await self.check_acts_for(request.voter_id, "voter_id")
        downstream = consensus_pb2.VoteRequest(
            proposal_id=request.proposal_id,
            voter_id=request.voter_id,
            choice=request.choice,
            signature=request.signature,
        )
        # Idempotent: the same signed vote again succeeds without change.
        response = await self.consensus(lambda stub, timeout: stub.Vote(downstream, timeout=timeout), idempotent=True)
        return pb.VoteResponse(proposal=response.proposal)

    async def GetDecision(
        self, request: pb.GetDecisionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetDecisionResponse:
        downstream = consensus_pb2.GetProposalRequest(
            proposal_id=request.proposal_id, view=consensus_pb2.PROPOSAL_VIEW_FULL
        )
        response = await self.consensus(
            lambda stub, timeout: stub.GetProposal(downstream, timeout=timeout), idempotent=True
        )
        return pb.GetDecisionResponse(proposal=response.proposal)

    async def WatchDecisions(
        self, request: pb.WatchDecisionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchDecisionsResponse]:
        downstream = consensus_pb2.WatchProposalsRequest(
            proposal_id=request.proposal_id, view=consensus_pb2.PROPOSAL_VIEW_BASIC
        )
        deadline = current_call().deadline
        timeout = None if deadline.expires_at is None else deadline.remaining()
        try:
            await self.resources.consensus.wait_for_serving(deadline)
            replica = self.resources.consensus.choose()
        except grpc.aio.AioRpcError as error:
            raise relayed_error("consensus", error, {}) from None
        stream = replica.stub.WatchProposals(downstream, timeout=timeout)
        try:
            async for event in stream:
                yield pb.WatchDecisionsResponse(event_type=event.event_type, proposal=event.proposal)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                self.resources.consensus.report_unavailable(replica)
            raise relayed_error("consensus", error, {}) from None
        finally:
            stream.cancel()
