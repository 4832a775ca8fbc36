"""Keyset pagination with opaque page tokens, bound to the request they were issued for.

A token carries the sort key of the last item of a page and a fingerprint of the request's other
fields, so a token replayed with other filters is refused instead of returning a wrong page. Tokens
come from clients, so they are parsed defensively: bounded in size, and anything malformed is
INVALID_ARGUMENT naming ``page_token``, never an internal error.

:func:`paginate` does the three steps every List method needs: decode the token, fetch one item more
than the page holds, and encode the next token when that extra item exists.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from google.protobuf.message import Message

from cerebro.runtime.errors import invalid_argument

KeyPart = Literal["time", "uuid", "text", "int"]
KeyValue = datetime | uuid.UUID | str | int
Key = tuple[KeyValue, ...]
ItemT = TypeVar("ItemT")

PAGE_TOKEN_FIELD = "page_token"
PAGE_SIZE_FIELD = "page_size"
# Longer than any token we issue (a few sort keys and a fingerprint), short enough to parse cheaply.
MAX_TOKEN_CHARS = 2048
_NOT_OURS = "is not a page token issued for this method"


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    items: list[ItemT]
    next_page_token: str


def _fingerprint(request: Message) -> str:
    scrubbed = type(request)()
    scrubbed.CopyFrom(request)
    for name in (PAGE_TOKEN_FIELD, PAGE_SIZE_FIELD):
        if name in scrubbed.DESCRIPTOR.fields_by_name:
            scrubbed.ClearField(name)
    return hashlib.sha256(scrubbed.SerializeToString(deterministic=True)).hexdigest()[:24]


def encode_page_token(request: Message, key: Key) -> str:
    parts = [
        value.isoformat() if isinstance(value, datetime) else str(value) if isinstance(value, uuid.UUID) else value
        for value in key
    ]
    payload = json.dumps({"k": parts, "f": _fingerprint(request)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_page_token(request: Message, kinds: tuple[KeyPart, ...]) -> Key | None:
    """The sort key in the request's ``page_token``; None for the first page; INVALID_ARGUMENT when bad."""
    token: str = getattr(request, PAGE_TOKEN_FIELD)
    if not token:
        return None
    if len(token) > MAX_TOKEN_CHARS:
        raise invalid_argument([(PAGE_TOKEN_FIELD, _NOT_OURS)])
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        fingerprint, parts = payload["f"], payload["k"]
        if not isinstance(parts, list) or len(parts) != len(kinds):
            raise ValueError("wrong key length")
        key = tuple(_parse(kind, part) for kind, part in zip(kinds, parts, strict=True))
    except (ValueError, KeyError, TypeError, RecursionError, binascii.Error, UnicodeDecodeError):
        raise invalid_argument([(PAGE_TOKEN_FIELD, _NOT_OURS)]) from None
    if fingerprint != _fingerprint(request):
        raise invalid_argument([(PAGE_TOKEN_FIELD, "was issued for a request with other parameters")])
    return key


def _parse(kind: KeyPart, part: Any) -> KeyValue:
    if kind == "time" and isinstance(part, str):
        return datetime.fromisoformat(part)
    if kind == "uuid" and isinstance(part, str):
        return uuid.UUID(part)
    if kind == "text" and isinstance(part, str):
        return part
    if kind == "int" and isinstance(part, int) and not isinstance(part, bool):
        return part
    raise ValueError(f"bad {kind} key")


async def paginate(
    request: Message,
    *,
    page_size: int,
    kinds: tuple[KeyPart, ...],
    fetch: Callable[[Key | None, int], Awaitable[Sequence[ItemT]]],
    key: Callable[[ItemT], Key],
) -> Page[ItemT]:
    """One page: ``fetch(after, limit)`` returns up to ``limit`` items after the sort key ``after``, in order."""
    after = decode_page_token(request, kinds)
    fetched = await fetch(after, page_size + 1)
    items = list(fetched[:page_size])
    more = len(fetched) > page_size
    return Page(items, encode_page_token(request, key(items[-1])) if more else "")
