"""Checking a request at the edge: every bad field is collected, then reported at once.

Every service validates with :class:`Violations`, so a caller reads one vocabulary whatever service
refused it: ``"is required"``, ``"must be a UUID; got 'x'"``, ``"is 300 characters; the limit is 200"``.
Each check returns the value in the form storage wants (a ``UUID``, a ``datetime``) or a neutral
value when it failed; :meth:`Violations.raise_if_any` then raises INVALID_ARGUMENT naming every field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID

from google.protobuf import duration_pb2, field_mask_pb2, struct_pb2, timestamp_pb2
from google.protobuf.json_format import MessageToDict

from cerebro.runtime.errors import FieldViolation, invalid_argument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Timestamps outside what both PostgreSQL and Python's datetime represent.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)

# A namespace (the agent instance owning memories): also a CHECK of memory.namespaces.
NAMESPACE_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,62}")
NAMESPACE_RULE = "must be 1-63 characters: a lowercase letter, then lowercase letters, digits, '_' or '-'"

_TOKEN = re.compile(r"[^\s\x00-\x1f\x7f]+")
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SHOWN_CHARS = 64

# An enum's number type (a generated enum's ValueType is an int of its own), and what it maps to.
NumberT = TypeVar("NumberT", bound=int)
EnumT = TypeVar("EnumT")


def _shown(value: str) -> str:
    """A client's value quoted in a message, cut short so a huge value cannot flood the reply."""
    return repr(value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…")


class Violations:
    """Collects field violations; :meth:`raise_if_any` turns them into INVALID_ARGUMENT."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, field: str, description: str) -> None:
        self.items.append((field, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise invalid_argument(self.items)

    def required(self, field: str, present: bool) -> bool:
        if not present:
            self.add(field, "is required")
        return present

    def text(
        self,
        field: str,
        value: str,
        *,
        required: bool = True,
        max_chars: int | None = None,
        max_bytes: int | None = None,
    ) -> str:
        """Text with something besides whitespace (or empty, when not ``required``), within the limits."""
        if not value:
            if required:
                self.add(field, "is required")
            return value
        if not value.strip():
            self.add(field, "must contain non-whitespace text")
            return value
        if max_chars is not None and len(value) > max_chars:
            self.add(field, f"is {len(value)} characters; the limit is {max_chars}")
        if max_bytes is not None:
            size = len(value.encode("utf-8"))
            if size > max_bytes:
                self.add(field, f"is {size} bytes; the limit is {max_bytes} bytes")
        return value

    def token(self, field: str, value: str, *, max_chars: int, required: bool = True) -> str:
        """A name without whitespace or control characters (instance names, regions, capabilities)."""
        if not value:
            if required:
                self.add(field, "is required")
        elif len(value) > max_chars:
            self.add(field, f"is {len(value)} characters; the limit is {max_chars}")
        elif not _TOKEN.fullmatch(value):
            self.add(field, "must not contain whitespace or control characters")
        return value

    def distinct_tokens(self, field: str, values: Iterable[str], *, max_items: int, max_chars: int) -> list[str]:
        def check(item_field: str, value: str) -> None:
            self.token(item_field, value, max_chars=max_chars)

        return self._distinct(field, values, check, min_items=0, max_items=max_items)

    def distinct_texts(
        self, field: str, values: Iterable[str], *, min_items: int = 0, max_items: int, max_chars: int
    ) -> list[str]:
        """Texts as :meth:`text` checks them, none repeated (the options of a proposal)."""

        def check(item_field: str, value: str) -> None:
            self.text(item_field, value, max_chars=max_chars)

        return self._distinct(field, values, check, min_items=min_items, max_items=max_items)

    def _distinct(
        self,
        field: str,
        values: Iterable[str],
        check: Callable[[str, str], None],
        *,
        min_items: int,
        max_items: int,
    ) -> list[str]:
        """``values`` counted, each checked, and none repeated; each item's problems are reported together."""
        items = list(values)
        if self.count(field, items, max_items=max_items, min_items=min_items):
            seen: set[str] = set()
            for index, value in enumerate(items):
                check(f"{field}[{index}]", value)
                if value in seen:
                    self.add(f"{field}[{index}]", f"repeats {_shown(value)}")
                seen.add(value)
        return items

    def count(self, field: str, items: Collection[object], *, max_items: int, min_items: int = 0) -> bool:
        """Whether ``items`` has ``min_items`` to ``max_items`` entries (reported when not)."""
        if len(items) > max_items:
            self.add(field, f"has {len(items)} items; the limit is {max_items}")
            return False
        if len(items) < min_items:
            self.add(field, f"has {len(items)} items; at least {min_items} are required")
            return False
        return True

    def pattern(self, field: str, value: str, pattern: re.Pattern[str], description: str) -> str:
        """``value`` matching ``pattern`` entirely; ``description`` says what is expected, e.g. "must be ..."."""
        if not value:
            self.add(field, "is required")
        elif not pattern.fullmatch(value):
            self.add(field, description)
        return value

    def namespace(self, field: str, value: str) -> str:
        return self.pattern(field, value, NAMESPACE_PATTERN, NAMESPACE_RULE)

    def uuid(self, field: str, value: str, *, required: bool = True) -> UUID | None:
        """The UUID in its canonical 8-4-4-4-12 form; None when absent or bad."""
        if not value:
            if required:
                self.add(field, "is required")
            return None
        if not _CANONICAL_UUID.fullmatch(value):
            self.add(field, f"must be a UUID; got {_shown(value)}")
            return None
        return UUID(value)

    def uuids(self, field: str, values: Iterable[str], *, max_items: int) -> list[UUID]:
        items = list(values)
        if not self.count(field, items, max_items=max_items):
            return []
        parsed = [self.uuid(f"{field}[{index}]", value) for index, value in enumerate(items)]
        return [value for value in parsed if value is not None]

    def between(self, field: str, value: float, minimum: float, maximum: float) -> float:
        """A number from ``minimum`` to ``maximum``, both included; NaN is refused."""
        if math.isnan(value) or not minimum <= value <= maximum:
            self.add(field, f"must be between {minimum:g} and {maximum:g}; got {value:g}")
        return value

    def fraction(self, field: str, value: float) -> float:
        return self.between(field, value, 0.0, 1.0)

    def exact_bytes(self, field: str, value: bytes, *, size: int, what: str) -> bytes:
        if not value:
            self.add(field, "is required")
        elif len(value) != size:
            self.add(field, f"must be {what} of {size} bytes; got {len(value)}")
        return value

    def enum(
        self, field: str, value: NumberT, known: Mapping[NumberT, EnumT], *, required: bool = False
    ) -> EnumT | None:
        """What ``known`` maps the enum number to; None for 0 (unspecified, allowed unless ``required``)."""
        if value == 0:
            if required:
                self.add(field, "is required")
            return None
        if value not in known:
            self.add(field, f"is {value}, not a known value")
            return None
        return known[value]

    def struct(self, field: str, message: struct_pb2.Struct, *, max_bytes: int) -> dict[str, object]:
        """The Struct as plain values, refused above ``max_bytes`` serialised.

        Depth, NaN and infinities are refused for every request by the edge interceptor already.
        """
        size = message.ByteSize()
        if size > max_bytes:
            self.add(field, f"is {size} bytes serialised; the limit is {max_bytes} bytes")
            return {}
        return MessageToDict(message)

    def timestamp(
        self, field: str, message: timestamp_pb2.Timestamp, *, present: bool = True, required: bool = False
    ) -> datetime | None:
        """The time of ``message`` (``present``: whether the request set it), within the years 1-9999."""
        if not present:
            if required:
                self.add(field, "is required")
            return None
        if not 0 <= message.nanos < 1_000_000_000:
            self.add(field, "has nanos outside 0-999,999,999")
            return None
        try:
            value = message.ToDatetime(tzinfo=UTC)
        except (OverflowError, ValueError):
            value = None
        if value is None or not EARLIEST <= value <= LATEST:
            self.add(field, "is outside the years 1-9999")
            return None
        return value

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
        """The paths of an update mask, each one of ``allowed``; at least one is required."""
        permitted = set(allowed)
        paths = set(mask.paths)
        if not paths:
            self.add(field, f"must name at least one of: {', '.join(sorted(permitted))}")
        for path in sorted(paths - permitted):
            self.add(field, f"{_shown(path)} cannot be updated; allowed: {', '.join(sorted(permitted))}")
        return paths & permitted

    def page_size(
        self, field: str, value: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE
    ) -> int:
        """``default`` for 0, at most ``maximum`` (larger values are lowered to it, as AIP-158 says)."""
        if value < 0:
            self.add(field, "must not be negative")
            return default
        return min(value or default, maximum)
