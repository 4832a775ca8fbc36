"""Page tokens: opaque, bound to their request, and refused cleanly whatever a client sends instead."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import grpc
import pytest

from cerebro.consensus.v1 import consensus_pb2 as pb
from cerebro.runtime.errors import ServiceError
from cerebro.runtime.pagination import decode_page_token, encode_page_token, paginate

ROWS = [(datetime(2026, 1, day, tzinfo=UTC), uuid.UUID(int=day)) for day in range(1, 8)]


async def fetch_after(after: tuple[object, ...] | None, limit: int) -> list[tuple[datetime, uuid.UUID]]:
    rows = [row for row in ROWS if after is None or row > after]
    return rows[:limit]


async def test_paginate_walks_every_row_once_and_ends_with_an_empty_token() -> None:
    request = pb.ListInstancesRequest(region="eu")
    seen = []
    while True:
        page = await paginate(request, page_size=3, kinds=("time", "uuid"), fetch=fetch_after, key=lambda row: row)
        seen += page.items
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    assert seen == ROWS


async def test_an_exact_last_page_has_no_next_token() -> None:
    page = await paginate(
        pb.ListInstancesRequest(), page_size=len(ROWS), kinds=("time", "uuid"), fetch=fetch_after, key=lambda r: r
    )
    assert page.items == ROWS and page.next_page_token == ""


def test_a_token_used_with_other_filters_is_refused() -> None:
    token = encode_page_token(pb.ListInstancesRequest(region="eu"), ROWS[0])
    # The page size may change between pages; the filters may not.
    assert decode_page_token(pb.ListInstancesRequest(region="eu", page_size=9, page_token=token), ("time", "uuid"))
    with pytest.raises(ServiceError) as raised:
        decode_page_token(pb.ListInstancesRequest(region="us", page_token=token), ("time", "uuid"))
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "other parameters" in raised.value.message


def _token(document: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not base64 at all!",
        _token(["a list"]),
        _token({"k": ["2026-01-01T00:00:00+00:00"], "f": "x"}),
        _token({"k": ["yesterday", str(uuid.UUID(int=1))], "f": "x"}),
        _token({"k": [True, 1], "f": "x"}),
        # Nesting deep enough to exhaust a recursive JSON parser, in a token of an allowed length.
        base64.urlsafe_b64encode(b"[" * 1500).decode(),
        "A" * 100_000,
    ],
)
def test_malformed_tokens_are_invalid_argument_naming_page_token(token: str) -> None:
    with pytest.raises(ServiceError) as raised:
        decode_page_token(pb.ListInstancesRequest(page_token=token), ("time", "uuid"))
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.message.startswith("page_token:")
