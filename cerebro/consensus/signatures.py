"""The canonical signed payloads of `cerebro.consensus.v1` and Ed25519 signing and verification.

The byte layout is the contract documented in protos/cerebro/consensus/v1/consensus.proto: a tag
naming the kind of request, then length-prefixed fields in a fixed order. Being deterministic and
unambiguous (no two different requests encode to the same bytes), a signature over it binds exactly
one request, and anyone holding the public key can re-verify it offline.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _tag(kind: str) -> bytes:
    return f"cerebro.consensus.v1.{kind}".encode("ascii") + b"\x00"


def _string(value: str) -> bytes:
    encoded = value.encode("utf-8")
    return struct.pack(">I", len(encoded)) + encoded


def _bytes(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def _list(values: Sequence[str]) -> bytes:
    return struct.pack(">I", len(values)) + b"".join(_string(value) for value in values)


def _bool(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def _timestamp(value: datetime) -> bytes:
    return struct.pack(">q", epoch_microseconds(value))


def epoch_microseconds(value: datetime) -> int:
    """Whole microseconds since the Unix epoch (exact integer arithmetic, no float rounding)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def vote_payload(proposal_id: str, voter_id: str, choice: str) -> bytes:
    return _tag("Vote") + _string(proposal_id) + _string(voter_id) + _string(choice)


def registration_payload(
    *,
    instance_name: str,
    instance_type: str,
    region: str,
    capabilities: Sequence[str],
    endpoints: Sequence[str],
    public_key: bytes,
    voting: bool,
    sign_time: datetime,
) -> bytes:
    return (
        _tag("RegisterInstance")
        + _string(instance_name)
        + _string(instance_type)
        + _string(region)
        + _list(capabilities)
        + _list(endpoints)
        + _bytes(public_key)
        + _bool(voting)
        + _timestamp(sign_time)
    )


def heartbeat_payload(instance_id: str, sign_time: datetime) -> bytes:
    return _tag("Heartbeat") + _string(instance_id) + _timestamp(sign_time)


def deregistration_payload(instance_id: str, sign_time: datetime) -> bytes:
    return _tag("DeregisterInstance") + _string(instance_id) + _timestamp(sign_time)


def proposal_payload(
    *, request_id: str, proposer_id: str, topic: str, options: Sequence[str], deadline: datetime
) -> bytes:
    return (
        _tag("CreateProposal")
        + _string(request_id)
        + _string(proposer_id)
        + _string(topic)
        + _list(options)
        + _timestamp(deadline)
    )


def verify(public_key: bytes, payload: bytes, signature: bytes) -> bool:
    """True only for a valid Ed25519 signature of ``payload`` by ``public_key``; never raises."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, payload)
    except (InvalidSignature, ValueError):
        return False
    return True
