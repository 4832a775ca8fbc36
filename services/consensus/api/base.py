"""What every part of the consensus API works with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from cerebro.runtime.violations import Violations
from services.consensus.events import EventHub
from services.consensus.settings import ConsensusSettings
from services.consensus.store.proposals import Proposals
from services.consensus.store.registry import Registry

DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class ConsensusResources:
    registry: Registry
    proposals: Proposals
    hub: EventHub
    settings: ConsensusSettings
    # The server requires client certificates, so a caller's role is known (services.consensus.admission).
    roles_verified: bool


class ApiBase:
    """Base of the API parts that :class:`services.consensus.servicer.ConsensusServicer` combines."""

    def __init__(self, resources: ConsensusResources) -> None:
        self.resources = resources


def timestamp(value: datetime) -> Timestamp:
    message = Timestamp()
    message.FromDatetime(value)
    return message


def canonical_id(violations: Violations, field: str, value: str, *, required: bool = True) -> str:
    """The UUID ``value`` in its canonical lowercase form, the form signed payloads use ("" when absent or bad)."""
    parsed = violations.uuid(field, value, required=required)
    return "" if parsed is None else str(parsed)
