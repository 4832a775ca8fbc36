"""Rows to `cerebro.consensus.v1` messages."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from cerebro.consensus.names import INSTANCE_STATUSES, INSTANCE_TYPES, PROPOSAL_STATES
from cerebro.consensus.v1 import consensus_pb2 as pb
from services.consensus.store.proposals import ProposalRecord

_INSTANCE_TYPE_ENUM = {name: number for number, name in INSTANCE_TYPES.items()}
_INSTANCE_STATUS_ENUM = {name: number for number, name in INSTANCE_STATUSES.items()}
_PROPOSAL_STATE_ENUM = {name: number for number, name in PROPOSAL_STATES.items()}


def timestamp(value: datetime) -> Timestamp:
    message = Timestamp()
    message.FromDatetime(value)
    return message


def instance(row: asyncpg.Record) -> pb.Instance:
    return pb.Instance(
        instance_id=str(row["instance_id"]),
        instance_name=row["instance_name"],
        instance_type=_INSTANCE_TYPE_ENUM[row["instance_type"]],
        region=row["location"],
        capabilities=row["capabilities"],
        endpoints=row["endpoints"],
        public_key=row["public_key"],
        voting=row["voting"],
        status=_INSTANCE_STATUS_ENUM[row["status"]],
        lease_expire_time=timestamp(row["lease_expire_time"]),
        offline_time=timestamp(row["offline_time"]),
        last_heartbeat_time=timestamp(row["last_sync"]),
        create_time=timestamp(row["created_at"]),
        update_time=timestamp(row["updated_at"]),
    )


def proposal(record: ProposalRecord, view: int) -> pb.Proposal:
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
        state=_PROPOSAL_STATE_ENUM[row["state"]],
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
