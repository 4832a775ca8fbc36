"""Checks of the input the gateway itself interprets; everything else the memory and consensus services check.

Violations are collected, so one INVALID_ARGUMENT names every bad field at once.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict

from cerebro.runtime.errors import FieldViolation, invalid_argument


class Violations:
    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append((field, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise invalid_argument(self.items)

    def text(self, field: str, value: str, *, max_chars: int, required: bool = True) -> str:
        """Text of 1 to ``max_chars`` characters (or empty when not ``required``), not only whitespace."""
        if not value:
            if required:
                self.add(field, "is required")
        elif not value.strip():
            self.add(field, "must contain non-whitespace text")
        elif len(value) > max_chars:
            self.add(field, f"is {len(value)} characters; the limit is {max_chars}")
        elif "\x00" in value:
            self.add(field, "must not contain NUL characters")
        return value

    def utf8_bytes(self, field: str, value: str, *, max_bytes: int) -> str:
        size = len(value.encode("utf-8"))
        if size > max_bytes:
            self.add(field, f"is {size} bytes; the limit is {max_bytes} bytes")
        elif "\x00" in value:
            self.add(field, "must not contain NUL characters")
        return value

    def uuid(self, field: str, value: str, *, required: bool) -> uuid.UUID | None:
        if not value:
            if required:
                self.add(field, "is required")
            return None
        try:
            return uuid.UUID(value)
        except ValueError:
            self.add(field, "must be a UUID")
            return None

    def fraction(self, field: str, value: float) -> float:
        if not 0.0 <= value <= 1.0:  # also refuses NaN
            self.add(field, "must be between 0 and 1")
        return value

    def struct(self, field: str, message: struct_pb2.Struct, *, max_bytes: int) -> dict[str, Any]:
        size = message.ByteSize()
        if size > max_bytes:
            self.add(field, f"is {size} bytes serialised; the limit is {max_bytes} bytes")
            return {}
        value = MessageToDict(message)
        if _contains(value, lambda item: isinstance(item, float) and not math.isfinite(item)):
            self.add(field, "must not contain NaN or infinite numbers")
        elif _contains(value, lambda item: isinstance(item, str) and "\x00" in item):
            self.add(field, "must not contain NUL characters")
        return value


def _contains(value: Any, predicate: Any) -> bool:
    if isinstance(value, dict):
        return any(predicate(key) or _contains(item, predicate) for key, item in value.items())
    if isinstance(value, list):
        return any(_contains(item, predicate) for item in value)
    return bool(predicate(value))
