"""Times and ages as people type them on the command line (`--since 7d`, `--until 2026-05-01`)."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

from google.protobuf import timestamp_pb2

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(value: str) -> timedelta:
    match = _AGE.match(value.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration such as 30m, 12h or 7d")
    return timedelta(seconds=float(match[1]) * _AGE_UNITS[match[2]])


def moment(value: str) -> datetime:
    """An ISO 8601 time (UTC when it has no zone), or an age (7d) before now."""
    if _AGE.match(value.strip()):
        return datetime.now(UTC) - duration(value)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither an ISO 8601 time nor an age such as 7d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message
