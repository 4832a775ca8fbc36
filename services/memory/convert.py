"""Conversions between protobuf well-known types and the Python values asyncpg reads and writes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import duration_pb2, json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from cerebro.runtime.safe_values import stored_struct


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def to_datetime(message: timestamp_pb2.Timestamp) -> datetime:
    return message.ToDatetime(tzinfo=UTC)


def duration(value: timedelta) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromTimedelta(value)
    return message


def struct(value: dict[str, Any] | None, what: str) -> struct_pb2.Struct:
    """A stored JSON object as a Struct; anything nested past the request limit (written before it
    existed) is sent as null rather than breaking the read. ``what`` names the value in the warning."""
    return stored_struct(value, what)


def struct_to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def request_digest(request: Message) -> bytes:
    """SHA-256 of a request's deterministic serialisation: what makes a retry "the same request"."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).digest()
