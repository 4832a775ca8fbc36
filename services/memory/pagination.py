"""Opaque page tokens for keyset pagination, bound to the request that produced them.

A token carries the sort key of the last row returned and a fingerprint of the request's other
fields, so a token used with different filters is refused instead of returning a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from datetime import datetime
from typing import Literal

from google.protobuf.message import Message

from cerebro.runtime.errors import invalid_argument

KeyPart = Literal["time", "uuid", "text", "int"]
# Tokens issued here are a few hundred characters; longer ones are refused before any decoding.
MAX_TOKEN_CHARS = 2048
KeyValue = datetime | uuid.UUID | str | int


def _fingerprint(request: Message) -> str:
    scrubbed = type(request)()
    scrubbed.CopyFrom(request)
    for name in ("page_token", "page_size"):
        scrubbed.ClearField(name)  # type: ignore[arg-type]
    return hashlib.sha256(scrubbed.SerializeToString(deterministic=True)).hexdigest()[:24]


def encode_page_token(request: Message, key: tuple[KeyValue, ...]) -> str:
    parts = [
        value.isoformat() if isinstance(value, datetime) else str(value) if isinstance(value, uuid.UUID) else value
        for value in key
    ]
    payload = json.dumps({"k": parts, "f": _fingerprint(request)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_page_token(request: Message, kinds: tuple[KeyPart, ...]) -> tuple[KeyValue, ...] | None:
    """The sort key in ``request.page_token``, or None for the first page; INVALID_ARGUMENT if bad."""
    token: str = request.page_token  # type: ignore[attr-defined]
    if not token:
        return None
    if len(token) > MAX_TOKEN_CHARS:
        raise invalid_argument([("page_token", "is not a page token issued by this service")])
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if payload["f"] != _fingerprint(request):
            raise invalid_argument([("page_token", "belongs to a request with other parameters")])
        parts = payload["k"]
        if len(parts) != len(kinds):
            raise ValueError("wrong key length")
        return tuple(_parse(kind, part) for kind, part in zip(kinds, parts, strict=True))
    # RecursionError: JSON nested thousands deep, which no token of ours is.
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise invalid_argument([("page_token", "is not a page token issued by this service")]) from None


def _parse(kind: KeyPart, part: object) -> KeyValue:
    if kind == "time" and isinstance(part, str):
        return datetime.fromisoformat(part)
    if kind == "uuid" and isinstance(part, str):
        return uuid.UUID(part)
    if kind == "text" and isinstance(part, str):
        return part
    if kind == "int" and isinstance(part, int):
        return part
    raise ValueError(f"bad {kind} key")
