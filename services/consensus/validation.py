"""Validation of requests at the edge: every bad field is reported at once, and nothing is written.

Each ``parse_*`` function returns a typed value for storage or raises INVALID_ARGUMENT with a
BadRequest naming every bad field. Ids come back in their canonical lowercase form, the form the
signed payloads use.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cerebro.consensus.names import INSTANCE_STATUSES, INSTANCE_TYPES, PROPOSAL_STATES
from cerebro.consensus.rules import DEFAULT_OPTIONS, Ballot
from cerebro.consensus.signatures import PUBLIC_KEY_BYTES, SIGNATURE_BYTES
from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.runtime.errors import FieldViolation, invalid_argument

MAX_NAME_CHARS = 200
MAX_REGION_CHARS = 100
MAX_CAPABILITIES = 64
MAX_CAPABILITY_CHARS = 100
MAX_ENDPOINTS = 16
MAX_ENDPOINT_CHARS = 500
MAX_TOPIC_CHARS = 4000
MIN_OPTIONS = 2
MAX_OPTIONS = 32
MAX_OPTION_CHARS = 200
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

_TOKEN = re.compile(r"[^\s\x00-\x1f\x7f]+")  # no whitespace, no control characters
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def valid_token(value: str, max_chars: int) -> bool:
    """A name, region or capability: 1 to ``max_chars`` characters, no whitespace or control characters."""
    return 0 < len(value) <= max_chars and _TOKEN.fullmatch(value) is not None


@dataclass(frozen=True)
class Registration:
    instance_name: str
    instance_type: str
    region: str
    capabilities: list[str]
    endpoints: list[str]
    public_key: bytes
    voting: bool
    sign_time: datetime
    signature: bytes


@dataclass(frozen=True)
class SignedInstanceRequest:
    """A heartbeat or a deregistration: the instance, when it signed, and its signature."""

    instance_id: str
    sign_time: datetime
    signature: bytes


@dataclass(frozen=True)
class NewProposal:
    request_id: str
    topic: str
    options: list[str]
    deadline: datetime
    proposer_id: str
    proposer_signature: bytes


@dataclass(frozen=True)
class InstanceFilter:
    status: str | None
    region: str | None
    capability: str | None


@dataclass(frozen=True)
class ProposalFilter:
    state: str | None
    proposer_id: str | None


class _Checker:
    """Collects field violations while parsing one request."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, field: str, description: str) -> None:
        self.violations.append((field, description))

    def raise_if_any(self) -> None:
        if self.violations:
            raise invalid_argument(self.violations)

    def uuid(self, field: str, value: str, *, required: bool = True) -> str:
        if not value and not required:
            return ""
        if not _UUID.fullmatch(value):
            self.fail(field, "must be a UUID (8-4-4-4-12 hexadecimal digits)" if value else "is required")
            return ""
        return str(uuid.UUID(value))

    def token(self, field: str, value: str, max_chars: int) -> str:
        if not value:
            self.fail(field, "is required")
        elif len(value) > max_chars:
            self.fail(field, f"has {len(value)} characters; the limit is {max_chars}")
        elif not _TOKEN.fullmatch(value):
            self.fail(field, "must not contain whitespace or control characters")
        return value

    def distinct_tokens(self, field: str, values: list[str], max_items: int, max_chars: int) -> list[str]:
        if len(values) > max_items:
            self.fail(field, f"has {len(values)} entries; the limit is {max_items}")
        seen: set[str] = set()
        for index, value in enumerate(values):
            self.token(f"{field}[{index}]", value, max_chars)
            if value in seen:
                self.fail(f"{field}[{index}]", f"repeats {value!r}")
            seen.add(value)
        return values

    def exact_bytes(self, field: str, value: bytes, size: int, what: str) -> bytes:
        if len(value) != size:
            self.fail(field, f"must be {what} of {size} bytes, got {len(value)}" if value else "is required")
        return value

    def timestamp(self, field: str, message: Message, name: str) -> datetime | None:
        if not message.HasField(name):
            self.fail(field, "is required")
            return None
        value: Timestamp = getattr(message, name)
        try:
            return value.ToDatetime(tzinfo=UTC)
        except (ValueError, OverflowError):
            self.fail(field, "is not a valid timestamp")
            return None


def parse_registration(request: pb.RegisterInstanceRequest) -> Registration:
    check = _Checker()
    instance = request.instance
    name = check.token("instance.instance_name", instance.instance_name, MAX_NAME_CHARS)
    instance_type = INSTANCE_TYPES.get(instance.instance_type, "")
    if not instance_type:
        check.fail("instance.instance_type", "must be PRIMARY, WORKER or SPECIALIZED")
    region = check.token("instance.region", instance.region, MAX_REGION_CHARS)
    capabilities = check.distinct_tokens(
        "instance.capabilities", list(instance.capabilities), MAX_CAPABILITIES, MAX_CAPABILITY_CHARS
    )
    endpoints = check.distinct_tokens("instance.endpoints", list(instance.endpoints), MAX_ENDPOINTS, MAX_ENDPOINT_CHARS)
    public_key = check.exact_bytes(
        "instance.public_key", instance.public_key, PUBLIC_KEY_BYTES, "an Ed25519 public key"
    )
    sign_time = check.timestamp("sign_time", request, "sign_time")
    signature = check.exact_bytes("signature", request.signature, SIGNATURE_BYTES, "an Ed25519 signature")
    check.raise_if_any()
    assert sign_time is not None  # a missing one was reported above
    return Registration(
        instance_name=name,
        instance_type=instance_type,
        region=region,
        capabilities=capabilities,
        endpoints=endpoints,
        public_key=public_key,
        voting=instance.voting,
        sign_time=sign_time,
        signature=signature,
    )


def parse_signed_instance_request(
    request: pb.HeartbeatRequest | pb.DeregisterInstanceRequest,
) -> SignedInstanceRequest:
    check = _Checker()
    instance_id = check.uuid("instance_id", request.instance_id)
    sign_time = check.timestamp("sign_time", request, "sign_time")
    signature = check.exact_bytes("signature", request.signature, SIGNATURE_BYTES, "an Ed25519 signature")
    check.raise_if_any()
    assert sign_time is not None  # a missing one was reported above
    return SignedInstanceRequest(instance_id, sign_time, signature)


def parse_instance_id(instance_id: str) -> str:
    check = _Checker()
    parsed = check.uuid("instance_id", instance_id)
    check.raise_if_any()
    return parsed


def parse_proposal_id(proposal_id: str, *, required: bool = True) -> str:
    check = _Checker()
    parsed = check.uuid("proposal_id", proposal_id, required=required)
    check.raise_if_any()
    return parsed


def parse_new_proposal(request: pb.CreateProposalRequest, now: datetime, max_lifetime: timedelta) -> NewProposal:
    check = _Checker()
    proposal = request.proposal
    request_id = check.uuid("proposal.request_id", proposal.request_id)
    topic = proposal.topic
    if not topic.strip():
        check.fail("proposal.topic", "must contain non-whitespace text")
    elif len(topic) > MAX_TOPIC_CHARS:
        check.fail("proposal.topic", f"has {len(topic)} characters; the limit is {MAX_TOPIC_CHARS}")
    options = list(proposal.options) or list(DEFAULT_OPTIONS)
    _check_options(check, options)
    deadline = check.timestamp("proposal.deadline", proposal, "deadline")
    if deadline is not None:
        if deadline <= now:
            check.fail("proposal.deadline", "must be in the future")
        elif deadline - now > max_lifetime:
            check.fail("proposal.deadline", f"must be at most {max_lifetime.total_seconds():.0f} s away")
    proposer_id = check.uuid("proposal.proposer_id", proposal.proposer_id)
    signature = check.exact_bytes(
        "proposal.proposer_signature", proposal.proposer_signature, SIGNATURE_BYTES, "an Ed25519 signature"
    )
    check.raise_if_any()
    assert deadline is not None  # a missing one was reported above
    return NewProposal(request_id, topic, options, deadline, proposer_id, signature)


def _check_options(check: _Checker, options: list[str]) -> None:
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        check.fail("proposal.options", f"must have {MIN_OPTIONS} to {MAX_OPTIONS} options, got {len(options)}")
    seen: set[str] = set()
    for index, option in enumerate(options):
        field = f"proposal.options[{index}]"
        if not option.strip():
            check.fail(field, "must contain non-whitespace text")
        elif len(option) > MAX_OPTION_CHARS:
            check.fail(field, f"has {len(option)} characters; the limit is {MAX_OPTION_CHARS}")
        if option in seen:
            check.fail(field, f"repeats {option!r}")
        seen.add(option)


def parse_ballot(request: pb.VoteRequest) -> Ballot:
    check = _Checker()
    proposal_id = check.uuid("proposal_id", request.proposal_id)
    voter_id = check.uuid("voter_id", request.voter_id)
    if not request.choice:
        check.fail("choice", "is required")
    signature = check.exact_bytes("signature", request.signature, SIGNATURE_BYTES, "an Ed25519 signature")
    check.raise_if_any()
    return Ballot(proposal_id, voter_id, request.choice, signature)


def parse_page_size(page_size: int) -> int:
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise invalid_argument([("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")])
    return page_size or DEFAULT_PAGE_SIZE


def parse_instance_filter(request: pb.ListInstancesRequest) -> InstanceFilter:
    check = _Checker()
    status = None
    if request.status != pb.INSTANCE_STATUS_UNSPECIFIED:
        status = INSTANCE_STATUSES.get(request.status)
        if status is None:
            check.fail("status", "is not a known status")
    check.raise_if_any()
    return InstanceFilter(status=status, region=request.region or None, capability=request.capability or None)


def parse_proposal_filter(request: pb.ListProposalsRequest) -> ProposalFilter:
    check = _Checker()
    state = None
    if request.state != pb.PROPOSAL_STATE_UNSPECIFIED:
        state = PROPOSAL_STATES.get(request.state)
        if state is None:
            check.fail("state", "is not a known state")
    proposer_id = check.uuid("proposer_id", request.proposer_id, required=False) or None
    check.raise_if_any()
    return ProposalFilter(state=state, proposer_id=proposer_id)


def parse_view(view: int, default: int) -> int:
    if view == pb.PROPOSAL_VIEW_UNSPECIFIED:
        return default
    if view not in (pb.PROPOSAL_VIEW_BASIC, pb.PROPOSAL_VIEW_FULL):
        raise invalid_argument([("view", "must be BASIC or FULL")])
    return view
