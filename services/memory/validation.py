"""Validation at the edge: every bad field is collected, then reported at once as BadRequest violations."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from google.protobuf import duration_pb2, field_mask_pb2, struct_pb2, timestamp_pb2

from cerebro.runtime.errors import FieldViolation, invalid_argument
from services.memory.convert import struct_to_dict, to_datetime

NAMESPACE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_TAGS = 64
MAX_TAG_CHARS = 128
# Timestamps outside what PostgreSQL and Python's datetime both represent are refused.
EARLIEST = datetime(1, 1, 2).timestamp()
LATEST = datetime(9999, 12, 30).timestamp()


class Violations:
    """Collects field violations; :meth:`raise_if_any` turns them into INVALID_ARGUMENT."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append((field, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise invalid_argument(self.items)

    def namespace(self, field: str, value: str) -> str:
        if not value:
            self.add(field, "is required")
        elif not NAMESPACE_PATTERN.match(value):
            self.add(field, "must be 1-63 characters: a lowercase letter, then lowercase letters, digits, '_' or '-'")
        return value

    def uuid(self, field: str, value: str, *, required: bool = True) -> uuid.UUID | None:
        if not value:
            if required:
                self.add(field, "is required")
            return None
        try:
            return uuid.UUID(value)
        except ValueError:
            self.add(field, f"{value[:64]!r} is not a UUID")
            return None

    def uuids(self, field: str, values: Iterable[str], *, max_items: int) -> list[uuid.UUID]:
        items = list(values)
        if len(items) > max_items:
            self.add(field, f"has {len(items)} items; the limit is {max_items}")
            return []
        parsed = [self.uuid(f"{field}[{index}]", value) for index, value in enumerate(items)]
        return [value for value in parsed if value is not None]

    def text(
        self,
        field: str,
        value: str,
        *,
        required: bool,
        max_chars: int | None = None,
        max_bytes: int | None = None,
    ) -> str:
        if not value.strip():
            if required:
                self.add(field, "must contain non-whitespace text")
            elif value:
                self.add(field, "must not be only whitespace")
            return value
        if "\x00" in value:
            self.add(field, "must not contain NUL characters")
        if max_chars is not None and len(value) > max_chars:
            self.add(field, f"is {len(value)} characters; the limit is {max_chars}")
        if max_bytes is not None:
            size = len(value.encode("utf-8"))
            if size > max_bytes:
                self.add(field, f"is {size} bytes; the limit is {max_bytes} bytes")
        return value

    def unit_interval(self, field: str, value: float) -> float:
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            self.add(field, f"is {value}; it must be between 0 and 1")
        return value

    def tags(self, field: str, values: Iterable[str]) -> list[str]:
        tags = list(values)
        if len(tags) > MAX_TAGS:
            self.add(field, f"has {len(tags)} tags; the limit is {MAX_TAGS}")
            return tags
        seen: set[str] = set()
        for index, tag in enumerate(tags):
            if not tag.strip() or len(tag) > MAX_TAG_CHARS or "\x00" in tag:
                self.add(f"{field}[{index}]", f"must be 1-{MAX_TAG_CHARS} characters of non-whitespace text")
            elif tag in seen:
                self.add(f"{field}[{index}]", f"duplicates the tag {tag!r}")
            seen.add(tag)
        return tags

    def struct(self, field: str, message: struct_pb2.Struct, *, max_bytes: int) -> dict[str, Any]:
        size = message.ByteSize()
        if size > max_bytes:
            self.add(field, f"is {size} bytes serialised; the limit is {max_bytes} bytes")
            return {}
        value = struct_to_dict(message)
        if _contains_non_finite(value):
            self.add(field, "must not contain NaN or infinite numbers")
        elif _contains_nul(value):
            self.add(field, "must not contain NUL characters")
        return value

    def timestamp(self, field: str, message: timestamp_pb2.Timestamp) -> datetime | None:
        seconds = message.seconds + message.nanos / 1e9
        if not EARLIEST <= seconds <= LATEST or not 0 <= message.nanos < 1_000_000_000:
            self.add(field, "is outside the years 1-9999")
            return None
        return to_datetime(message)

    def duration(
        self, field: str, message: duration_pb2.Duration, *, minimum: timedelta, maximum: timedelta
    ) -> timedelta:
        try:
            value = message.ToTimedelta()
        except (OverflowError, ValueError):
            self.add(field, "is not a valid duration")
            return minimum
        if not minimum <= value <= maximum:
            self.add(field, f"must be between {minimum} and {maximum}")
        return value

    def update_mask(self, field: str, mask: field_mask_pb2.FieldMask, allowed: Iterable[str]) -> set[str]:
        permitted = set(allowed)
        paths = set(mask.paths)
        if not paths:
            self.add(field, f"must name at least one of: {', '.join(sorted(permitted))}")
        for path in sorted(paths - permitted):
            self.add(field, f"{path!r} cannot be updated; allowed: {', '.join(sorted(permitted))}")
        return paths & permitted

    def page_size(self, field: str, value: int) -> int:
        if value < 0:
            self.add(field, "must not be negative")
            return DEFAULT_PAGE_SIZE
        return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _contains_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_contains_non_finite(item) for item in value.values())
    if isinstance(value, list):
        return any(_contains_non_finite(item) for item in value)
    return False


def _contains_nul(value: Any) -> bool:
    # PostgreSQL's jsonb cannot store U+0000 in strings or keys.
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False
