import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InstanceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTANCE_TYPE_UNSPECIFIED: _ClassVar[InstanceType]
    INSTANCE_TYPE_PRIMARY: _ClassVar[InstanceType]
    INSTANCE_TYPE_WORKER: _ClassVar[InstanceType]
    INSTANCE_TYPE_SPECIALIZED: _ClassVar[InstanceType]

class InstanceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTANCE_STATUS_UNSPECIFIED: _ClassVar[InstanceStatus]
    INSTANCE_STATUS_ACTIVE: _ClassVar[InstanceStatus]
    INSTANCE_STATUS_STANDBY: _ClassVar[InstanceStatus]
    INSTANCE_STATUS_OFFLINE: _ClassVar[InstanceStatus]

class InstanceEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTANCE_EVENT_TYPE_UNSPECIFIED: _ClassVar[InstanceEventType]
    INSTANCE_EVENT_TYPE_EXISTING: _ClassVar[InstanceEventType]
    INSTANCE_EVENT_TYPE_REGISTERED: _ClassVar[InstanceEventType]
    INSTANCE_EVENT_TYPE_STATUS_CHANGED: _ClassVar[InstanceEventType]
    INSTANCE_EVENT_TYPE_DEREGISTERED: _ClassVar[InstanceEventType]

class ProposalState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROPOSAL_STATE_UNSPECIFIED: _ClassVar[ProposalState]
    PROPOSAL_STATE_OPEN: _ClassVar[ProposalState]
    PROPOSAL_STATE_DECIDED: _ClassVar[ProposalState]
    PROPOSAL_STATE_REJECTED: _ClassVar[ProposalState]
    PROPOSAL_STATE_EXPIRED: _ClassVar[ProposalState]

class ProposalView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROPOSAL_VIEW_UNSPECIFIED: _ClassVar[ProposalView]
    PROPOSAL_VIEW_BASIC: _ClassVar[ProposalView]
    PROPOSAL_VIEW_FULL: _ClassVar[ProposalView]

class ProposalEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROPOSAL_EVENT_TYPE_UNSPECIFIED: _ClassVar[ProposalEventType]
    PROPOSAL_EVENT_TYPE_EXISTING: _ClassVar[ProposalEventType]
    PROPOSAL_EVENT_TYPE_CREATED: _ClassVar[ProposalEventType]
    PROPOSAL_EVENT_TYPE_VOTED: _ClassVar[ProposalEventType]
    PROPOSAL_EVENT_TYPE_EQUIVOCATION: _ClassVar[ProposalEventType]
    PROPOSAL_EVENT_TYPE_EXPIRED: _ClassVar[ProposalEventType]
INSTANCE_TYPE_UNSPECIFIED: InstanceType
INSTANCE_TYPE_PRIMARY: InstanceType
INSTANCE_TYPE_WORKER: InstanceType
INSTANCE_TYPE_SPECIALIZED: InstanceType
INSTANCE_STATUS_UNSPECIFIED: InstanceStatus
INSTANCE_STATUS_ACTIVE: InstanceStatus
INSTANCE_STATUS_STANDBY: InstanceStatus
INSTANCE_STATUS_OFFLINE: InstanceStatus
INSTANCE_EVENT_TYPE_UNSPECIFIED: InstanceEventType
INSTANCE_EVENT_TYPE_EXISTING: InstanceEventType
INSTANCE_EVENT_TYPE_REGISTERED: InstanceEventType
INSTANCE_EVENT_TYPE_STATUS_CHANGED: InstanceEventType
INSTANCE_EVENT_TYPE_DEREGISTERED: InstanceEventType
PROPOSAL_STATE_UNSPECIFIED: ProposalState
PROPOSAL_STATE_OPEN: ProposalState
PROPOSAL_STATE_DECIDED: ProposalState
PROPOSAL_STATE_REJECTED: ProposalState
PROPOSAL_STATE_EXPIRED: ProposalState
PROPOSAL_VIEW_UNSPECIFIED: ProposalView
PROPOSAL_VIEW_BASIC: ProposalView
PROPOSAL_VIEW_FULL: ProposalView
PROPOSAL_EVENT_TYPE_UNSPECIFIED: ProposalEventType
PROPOSAL_EVENT_TYPE_EXISTING: ProposalEventType
PROPOSAL_EVENT_TYPE_CREATED: ProposalEventType
PROPOSAL_EVENT_TYPE_VOTED: ProposalEventType
PROPOSAL_EVENT_TYPE_EQUIVOCATION: ProposalEventType
PROPOSAL_EVENT_TYPE_EXPIRED: ProposalEventType

class Instance(_message.Message):
    __slots__ = ("instance_id", "instance_name", "instance_type", "region", "capabilities", "endpoints", "public_key", "voting", "status", "lease_expire_time", "offline_time", "last_heartbeat_time", "create_time", "update_time")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_NAME_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    VOTING_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    instance_name: str
    instance_type: InstanceType
    region: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    endpoints: _containers.RepeatedScalarFieldContainer[str]
    public_key: bytes
    voting: bool
    status: InstanceStatus
    lease_expire_time: _timestamp_pb2.Timestamp
    offline_time: _timestamp_pb2.Timestamp
    last_heartbeat_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, instance_id: _Optional[str] = ..., instance_name: _Optional[str] = ..., instance_type: _Optional[_Union[InstanceType, str]] = ..., region: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., endpoints: _Optional[_Iterable[str]] = ..., public_key: _Optional[bytes] = ..., voting: _Optional[bool] = ..., status: _Optional[_Union[InstanceStatus, str]] = ..., lease_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., offline_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_heartbeat_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterInstanceRequest(_message.Message):
    __slots__ = ("instance", "sign_time", "signature")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    SIGN_TIME_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    instance: Instance
    sign_time: _timestamp_pb2.Timestamp
    signature: bytes
    def __init__(self, instance: _Optional[_Union[Instance, _Mapping]] = ..., sign_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signature: _Optional[bytes] = ...) -> None: ...

class RegisterInstanceResponse(_message.Message):
    __slots__ = ("instance", "created", "lease_ttl_seconds")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    instance: Instance
    created: bool
    lease_ttl_seconds: float
    def __init__(self, instance: _Optional[_Union[Instance, _Mapping]] = ..., created: _Optional[bool] = ..., lease_ttl_seconds: _Optional[float] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("instance_id", "sign_time", "signature")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SIGN_TIME_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    sign_time: _timestamp_pb2.Timestamp
    signature: bytes
    def __init__(self, instance_id: _Optional[str] = ..., sign_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signature: _Optional[bytes] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("instance", "lease_ttl_seconds")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    instance: Instance
    lease_ttl_seconds: float
    def __init__(self, instance: _Optional[_Union[Instance, _Mapping]] = ..., lease_ttl_seconds: _Optional[float] = ...) -> None: ...

class DeregisterInstanceRequest(_message.Message):
    __slots__ = ("instance_id", "sign_time", "signature")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SIGN_TIME_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    sign_time: _timestamp_pb2.Timestamp
    signature: bytes
    def __init__(self, instance_id: _Optional[str] = ..., sign_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signature: _Optional[bytes] = ...) -> None: ...

class DeregisterInstanceResponse(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: Instance
    def __init__(self, instance: _Optional[_Union[Instance, _Mapping]] = ...) -> None: ...

class GetInstanceRequest(_message.Message):
    __slots__ = ("instance_id",)
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    def __init__(self, instance_id: _Optional[str] = ...) -> None: ...

class GetInstanceResponse(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: Instance
    def __init__(self, instance: _Optional[_Union[Instance, _Mapping]] = ...) -> None: ...

class ListInstancesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "status", "region", "capability")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    status: InstanceStatus
    region: str
    capability: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[InstanceStatus, str]] = ..., region: _Optional[str] = ..., capability: _Optional[str] = ...) -> None: ...

class ListInstancesResponse(_message.Message):
    __slots__ = ("instances", "next_page_token")
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedCompositeFieldContainer[Instance]
    next_page_token: str
    def __init__(self, instances: _Optional[_Iterable[_Union[Instance, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchInstancesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchInstancesResponse(_message.Message):
    __slots__ = ("event_type", "instance")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    event_type: InstanceEventType
    instance: Instance
    def __init__(self, event_type: _Optional[_Union[InstanceEventType, str]] = ..., instance: _Optional[_Union[Instance, _Mapping]] = ...) -> None: ...

class Elector(_message.Message):
    __slots__ = ("instance_id", "instance_name", "public_key")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_NAME_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    instance_name: str
    public_key: bytes
    def __init__(self, instance_id: _Optional[str] = ..., instance_name: _Optional[str] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class SignedVote(_message.Message):
    __slots__ = ("voter_id", "choice", "signature", "cast_time")
    VOTER_ID_FIELD_NUMBER: _ClassVar[int]
    CHOICE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CAST_TIME_FIELD_NUMBER: _ClassVar[int]
    voter_id: str
    choice: str
    signature: bytes
    cast_time: _timestamp_pb2.Timestamp
    def __init__(self, voter_id: _Optional[str] = ..., choice: _Optional[str] = ..., signature: _Optional[bytes] = ..., cast_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Equivocation(_message.Message):
    __slots__ = ("voter_id", "counted_vote", "conflicting_vote")
    VOTER_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTED_VOTE_FIELD_NUMBER: _ClassVar[int]
    CONFLICTING_VOTE_FIELD_NUMBER: _ClassVar[int]
    voter_id: str
    counted_vote: SignedVote
    conflicting_vote: SignedVote
    def __init__(self, voter_id: _Optional[str] = ..., counted_vote: _Optional[_Union[SignedVote, _Mapping]] = ..., conflicting_vote: _Optional[_Union[SignedVote, _Mapping]] = ...) -> None: ...

class OptionTally(_message.Message):
    __slots__ = ("option", "votes")
    OPTION_FIELD_NUMBER: _ClassVar[int]
    VOTES_FIELD_NUMBER: _ClassVar[int]
    option: str
    votes: int
    def __init__(self, option: _Optional[str] = ..., votes: _Optional[int] = ...) -> None: ...

class Proposal(_message.Message):
    __slots__ = ("proposal_id", "request_id", "topic", "options", "deadline", "proposer_id", "proposer_signature", "state", "decided_option", "electorate_size", "quorum", "tally", "create_time", "resolve_time", "electorate", "votes", "equivocations", "proposer_public_key")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PROPOSER_ID_FIELD_NUMBER: _ClassVar[int]
    PROPOSER_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_OPTION_FIELD_NUMBER: _ClassVar[int]
    ELECTORATE_SIZE_FIELD_NUMBER: _ClassVar[int]
    QUORUM_FIELD_NUMBER: _ClassVar[int]
    TALLY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    ELECTORATE_FIELD_NUMBER: _ClassVar[int]
    VOTES_FIELD_NUMBER: _ClassVar[int]
    EQUIVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    PROPOSER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    request_id: str
    topic: str
    options: _containers.RepeatedScalarFieldContainer[str]
    deadline: _timestamp_pb2.Timestamp
    proposer_id: str
    proposer_signature: bytes
    state: ProposalState
    decided_option: str
    electorate_size: int
    quorum: int
    tally: _containers.RepeatedCompositeFieldContainer[OptionTally]
    create_time: _timestamp_pb2.Timestamp
    resolve_time: _timestamp_pb2.Timestamp
    electorate: _containers.RepeatedCompositeFieldContainer[Elector]
    votes: _containers.RepeatedCompositeFieldContainer[SignedVote]
    equivocations: _containers.RepeatedCompositeFieldContainer[Equivocation]
    proposer_public_key: bytes
    def __init__(self, proposal_id: _Optional[str] = ..., request_id: _Optional[str] = ..., topic: _Optional[str] = ..., options: _Optional[_Iterable[str]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., proposer_id: _Optional[str] = ..., proposer_signature: _Optional[bytes] = ..., state: _Optional[_Union[ProposalState, str]] = ..., decided_option: _Optional[str] = ..., electorate_size: _Optional[int] = ..., quorum: _Optional[int] = ..., tally: _Optional[_Iterable[_Union[OptionTally, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., electorate: _Optional[_Iterable[_Union[Elector, _Mapping]]] = ..., votes: _Optional[_Iterable[_Union[SignedVote, _Mapping]]] = ..., equivocations: _Optional[_Iterable[_Union[Equivocation, _Mapping]]] = ..., proposer_public_key: _Optional[bytes] = ...) -> None: ...

class CreateProposalRequest(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: Proposal
    def __init__(self, proposal: _Optional[_Union[Proposal, _Mapping]] = ...) -> None: ...

class CreateProposalResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: Proposal
    def __init__(self, proposal: _Optional[_Union[Proposal, _Mapping]] = ...) -> None: ...

class VoteRequest(_message.Message):
    __slots__ = ("proposal_id", "voter_id", "choice", "signature")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    VOTER_ID_FIELD_NUMBER: _ClassVar[int]
    CHOICE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    voter_id: str
    choice: str
    signature: bytes
    def __init__(self, proposal_id: _Optional[str] = ..., voter_id: _Optional[str] = ..., choice: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class VoteResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: Proposal
    def __init__(self, proposal: _Optional[_Union[Proposal, _Mapping]] = ...) -> None: ...

class GetProposalRequest(_message.Message):
    __slots__ = ("proposal_id", "view")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    view: ProposalView
    def __init__(self, proposal_id: _Optional[str] = ..., view: _Optional[_Union[ProposalView, str]] = ...) -> None: ...

class GetProposalResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: Proposal
    def __init__(self, proposal: _Optional[_Union[Proposal, _Mapping]] = ...) -> None: ...

class ListProposalsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state", "proposer_id", "view")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROPOSER_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: ProposalState
    proposer_id: str
    view: ProposalView
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[ProposalState, str]] = ..., proposer_id: _Optional[str] = ..., view: _Optional[_Union[ProposalView, str]] = ...) -> None: ...

class ListProposalsResponse(_message.Message):
    __slots__ = ("proposals", "next_page_token")
    PROPOSALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    proposals: _containers.RepeatedCompositeFieldContainer[Proposal]
    next_page_token: str
    def __init__(self, proposals: _Optional[_Iterable[_Union[Proposal, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchProposalsRequest(_message.Message):
    __slots__ = ("proposal_id", "view")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    view: ProposalView
    def __init__(self, proposal_id: _Optional[str] = ..., view: _Optional[_Union[ProposalView, str]] = ...) -> None: ...

class WatchProposalsResponse(_message.Message):
    __slots__ = ("event_type", "proposal")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    event_type: ProposalEventType
    proposal: Proposal
    def __init__(self, event_type: _Optional[_Union[ProposalEventType, str]] = ..., proposal: _Optional[_Union[Proposal, _Mapping]] = ...) -> None: ...
