"""Server-streaming methods over HTTP: newline-delimited JSON, errors before and after the stream starts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import resources_pb2
from cerebro.runtime.errors import unauthenticated, unavailable
from cerebro.transcoding.handler import FIRST_EVENT_WAIT_SECONDS
from tests.transcoding.conftest import ScriptedFace
from tests.transcoding.samples import filled

WATCH = "/neural-mesh/consensus:watch"
SUBSCRIBE = "/neural-mesh/cross-learning:subscribe"


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def learning(concept: str) -> pb.SubscribeLearningsResponse:
    return pb.SubscribeLearningsResponse(learning=resources_pb2.Learning(concept=concept), semantic_memory_id="s")


async def test_each_message_is_one_json_line(face: ScriptedFace) -> None:
    response = await face.http.get(WATCH, params={"proposalId": "p-1"})
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/x-ndjson"
    expected = json_format.MessageToDict(
        filled(pb.WatchDecisionsResponse.DESCRIPTOR), always_print_fields_with_no_presence=True
    )
    assert lines(await response.text()) == [{"result": expected}, {"result": expected}]
    call = face.server.last("WatchDecisions")
    assert call.request == pb.WatchDecisionsRequest(proposal_id="p-1")
    assert call.time_remaining is None  # streams get no default deadline


async def test_a_stream_refused_at_once_is_an_http_error(face: ScriptedFace) -> None:
    async def refuse(request: Message, context: grpc.aio.ServicerContext) -> AsyncIterator[Message]:
        raise unauthenticated("credentials required")
        yield  # a generator

    face.server.scripts["SubscribeLearnings"] = refuse
    response = await face.http.get(SUBSCRIBE)
    assert response.status == 401
    assert (await response.json())["message"] == "credentials required"


async def test_a_stream_failing_after_it_started_ends_with_an_error_line(face: ScriptedFace) -> None:
    async def fail_later(request: Message, context: grpc.aio.ServicerContext) -> AsyncIterator[Message]:
        yield learning("first")
        raise unavailable("the memory service is unavailable", retry_after_seconds=1.0)

    face.server.scripts["SubscribeLearnings"] = fail_later
    response = await face.http.get(SUBSCRIBE)
    assert response.status == 200
    first, last = lines(await response.text())
    assert first["result"]["learning"]["concept"] == "first"
    assert last["error"]["code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    assert last["error"]["details"][0]["@type"] == "type.googleapis.com/google.rpc.RetryInfo"


async def test_an_idle_stream_starts_at_once_and_delivers_later(face: ScriptedFace) -> None:
    released = asyncio.Event()

    async def later(request: Message, context: grpc.aio.ServicerContext) -> AsyncIterator[Message]:
        await released.wait()
        yield learning("late")

    face.server.scripts["SubscribeLearnings"] = later
    response = await asyncio.wait_for(face.http.get(SUBSCRIBE), timeout=FIRST_EVENT_WAIT_SECONDS + 5)
    assert response.status == 200
    released.set()
    line = await asyncio.wait_for(response.content.readline(), timeout=5)
    assert json.loads(line)["result"]["learning"]["concept"] == "late"
    assert await response.content.read() == b""


async def test_a_client_going_away_cancels_the_grpc_stream(face: ScriptedFace) -> None:
    ended = asyncio.Event()

    async def forever(request: Message, context: grpc.aio.ServicerContext) -> AsyncIterator[Message]:
        try:
            yield learning("one")
            await asyncio.Event().wait()
        finally:
            ended.set()

    face.server.scripts["SubscribeLearnings"] = forever
    response = await face.http.get(SUBSCRIBE)
    assert json.loads(await response.content.readline())["result"]["learning"]["concept"] == "one"
    response.close()
    await asyncio.wait_for(ended.wait(), timeout=5)


async def test_a_stream_deadline_comes_from_the_headers(face: ScriptedFace) -> None:
    response = await face.http.get(WATCH, headers={"grpc-timeout": "30S"})
    await response.read()
    remaining = face.server.last("WatchDecisions").time_remaining
    assert remaining is not None and 29 < remaining <= 30.5


async def test_a_message_json_cannot_carry_ends_the_stream_with_an_internal_error(face: ScriptedFace) -> None:
    async def unwritable(request: Message, context: grpc.aio.ServicerContext) -> AsyncIterator[Message]:
        yield learning("fine")
        yield pb.SubscribeLearningsResponse(learning={"relationships": {"weight": float("nan")}})

    face.server.scripts["SubscribeLearnings"] = unwritable
    response = await face.http.get(SUBSCRIBE)
    first, last = lines(await response.text())
    assert first["result"]["learning"]["concept"] == "fine"
    assert last == {"error": {"code": grpc.StatusCode.INTERNAL.value[0], "message": "internal error", "details": []}}
