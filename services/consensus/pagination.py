"""Opaque page tokens for keyset pagination, bound to the filters they were issued for."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence

from cerebro.runtime.errors import invalid_argument

# Tokens issued here are a few hundred characters; longer ones are refused before any decoding.
MAX_TOKEN_CHARS = 2048

Position = list[str]
"""The sort key of the last row of a page, as strings."""


def _fingerprint(filters: Sequence[object]) -> str:
    return hashlib.sha256(json.dumps([str(value) for value in filters]).encode()).hexdigest()[:16]


def encode_page_token(position: Position, filters: Sequence[object]) -> str:
    document = json.dumps({"after": position, "filters": _fingerprint(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")


def decode_page_token(token: str, filters: Sequence[object], length: int) -> Position | None:
    """The position after which the page starts, None for the first page; INVALID_ARGUMENT when the
    token is malformed or was issued for other filters."""
    if not token:
        return None
    if len(token) > MAX_TOKEN_CHARS:
        raise invalid_argument([("page_token", "is not a token returned by this method")])
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        position = document["after"]
        matches = document["filters"] == _fingerprint(filters)
    # RecursionError: JSON nested thousands deep, which no token of ours is.
    except (ValueError, binascii.Error, KeyError, TypeError, RecursionError):
        raise invalid_argument([("page_token", "is not a token returned by this method")]) from None
    if not matches:
        raise invalid_argument([("page_token", "was issued for different filters")])
    if not (isinstance(position, list) and len(position) == length and all(isinstance(v, str) for v in position)):
        raise invalid_argument([("page_token", "is not a token returned by this method")])
    return position
