"""Names of the consensus enums as stored in PostgreSQL and signed in canonical payloads."""

from __future__ import annotations

from cerebro.consensus.v1 import consensus_pb2 as pb

INSTANCE_TYPES = {
    pb.INSTANCE_TYPE_PRIMARY: "primary",
    pb.INSTANCE_TYPE_WORKER: "worker",
    pb.INSTANCE_TYPE_SPECIALIZED: "specialized",
}
INSTANCE_STATUSES = {
    pb.INSTANCE_STATUS_ACTIVE: "active",
    pb.INSTANCE_STATUS_STANDBY: "standby",
    pb.INSTANCE_STATUS_OFFLINE: "offline",
}
PROPOSAL_STATES = {
    pb.PROPOSAL_STATE_OPEN: "open",
    pb.PROPOSAL_STATE_DECIDED: "decided",
    pb.PROPOSAL_STATE_REJECTED: "rejected",
    pb.PROPOSAL_STATE_EXPIRED: "expired",
}
