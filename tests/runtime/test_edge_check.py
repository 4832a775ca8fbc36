"""The edge check of every service: undecodable requests and unsafe values, refused before any handler.

A real ServiceHost serves a MemoryService whose one implemented method records what reaches it; the
interceptors under test are the host's own.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from cerebro.memory.v1 import episodes_pb2, memory_service_pb2, memory_service_pb2_grpc
from cerebro.runtime.channels import open_channel
from cerebro.runtime.safe_values import MAX_JSON_DEPTH, json_depth, stored_struct, unsafe_values
from cerebro.runtime.server import ServiceHost
from tests.support import loopback_settings, running_host

SERVICE = memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"]
CREATE_EPISODE = "/cerebro.memory.v1.MemoryService/CreateEpisode"


class RecordingMemory(memory_service_pb2_grpc.MemoryServiceServicer):
    def __init__(self) -> None:
        self.received: list[memory_service_pb2.CreateEpisodeRequest] = []

    async def CreateEpisode(
        self, request: memory_service_pb2.CreateEpisodeRequest, context: grpc.aio.ServicerContext
    ) -> memory_service_pb2.CreateEpisodeResponse:
        self.received.append(request)
        return memory_service_pb2.CreateEpisodeResponse(episode=request.episode)


@contextlib.asynccontextmanager
async def memory_double(tmp_path: Path) -> AsyncIterator[tuple[grpc.aio.Channel, RecordingMemory]]:
    servicer = RecordingMemory()

    @contextlib.asynccontextmanager
    async def lifespan(host: ServiceHost) -> AsyncIterator[None]:
        host.add_service(SERVICE, memory_service_pb2_grpc.add_MemoryServiceServicer_to_server, servicer)
        yield

    async with (
        running_host(loopback_settings("memory", tmp_path), lifespan) as host,
        open_channel(f"127.0.0.1:{host.bound_port}", max_attempts=1) as channel,
    ):
        yield channel, servicer


def nested(depth: int) -> dict[str, Any]:
    """A JSON object ``depth`` levels deep: {"a": {"a": ... {"leaf": 1}}}."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def struct_of(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def create(metadata: dict[str, Any] | None = None, **episode: Any) -> memory_service_pb2.CreateEpisodeRequest:
    request = memory_service_pb2.CreateEpisodeRequest(
        namespace="nexus", episode=episodes_pb2.Episode(content="x", **episode)
    )
    # update(), not a constructor argument: that one copies through the decoder, which stops at ~30 levels.
    request.episode.metadata.update(metadata or {})
    return request


def violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    return [(v.field, v.description) for v in bad_request.field_violations]


class TestUnsafeValues:
    def test_depth_counts_levels_of_objects_and_arrays(self) -> None:
        assert json_depth(struct_of({})) == 1
        assert json_depth(struct_of({"a": [[1]]})) == 3
        assert json_depth(struct_pb2.Value(number_value=1)) == 0
        assert json_depth(struct_of(nested(MAX_JSON_DEPTH))) == MAX_JSON_DEPTH
        assert json_depth(struct_of(nested(200))) == MAX_JSON_DEPTH + 1, "counting stops past the limit"

    def test_the_limit_itself_is_accepted_and_one_more_level_is_not(self) -> None:
        assert unsafe_values(create(nested(MAX_JSON_DEPTH))) == []
        assert unsafe_values(create(nested(MAX_JSON_DEPTH + 1))) == [
            ("episode.metadata", f"nests objects and arrays more than {MAX_JSON_DEPTH} levels deep")
        ]
        assert unsafe_values(create({"list": [nested(MAX_JSON_DEPTH)]})) != []

    def test_non_finite_numbers_and_nul_are_named_by_their_path(self) -> None:
        request = create(
            {"ok": 1.5, "ratio": math.inf, "deep": {"items": [1, math.nan]}, "odd key": "a\x00b"},
            importance=-math.inf,
            embedding=[0.5, math.nan],
        )
        assert sorted(field for field, _ in unsafe_values(request)) == [
            "episode.embedding[1]",
            "episode.importance",
            "episode.metadata.deep.items[1]",
            "episode.metadata.ratio",
            'episode.metadata["odd key"]',
        ]

    def test_a_stored_value_past_the_limit_is_cut_to_null_at_the_limit(self) -> None:
        cut = stored_struct(nested(MAX_JSON_DEPTH + 10), "test")
        assert json_depth(cut) == MAX_JSON_DEPTH
        inner = cut
        for _ in range(MAX_JSON_DEPTH - 1):
            inner = inner.fields["a"].struct_value
        assert inner.fields["a"].WhichOneof("kind") == "null_value"
        kept = {"a": [1, {"b": "c"}], "n": None}
        assert stored_struct(kept, "test") == struct_of(kept)


async def test_a_struct_nested_too_deeply_is_refused_before_the_handler(tmp_path: Path) -> None:
    async with memory_double(tmp_path) as (channel, servicer):
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        await stub.CreateEpisode(create(nested(MAX_JSON_DEPTH)))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateEpisode(create(nested(MAX_JSON_DEPTH + 5)))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [field for field, _ in violations(refused.value)] == ["episode.metadata"]
    assert len(servicer.received) == 1


async def test_nan_and_infinity_are_refused_naming_the_field(tmp_path: Path) -> None:
    async with memory_double(tmp_path) as (channel, servicer):
        stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateEpisode(create({"weight": math.nan}, importance=math.inf))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(field for field, _ in violations(refused.value)) == ["episode.importance", "episode.metadata.weight"]
    assert servicer.received == []


@pytest.mark.parametrize(
    ("payload", "field", "problem"),
    [
        pytest.param(b"\xff\xff\xff\xff", "", "cannot be decoded", id="corrupt"),
        # episode (field 2) holding content (field 3) with a byte sequence that is not UTF-8.
        pytest.param(b"\x12\x04\x1a\x02\xc3\x28", "episode.content", "is not valid UTF-8", id="invalid-utf8"),
        pytest.param(
            create(nested(40)).SerializeToString(), "episode.metadata", "levels deep", id="past-the-decoder-depth"
        ),
        # Decodes alone (31 levels of JSON), but not inside the request around it.
        pytest.param(create(nested(31)).SerializeToString(), "episode.metadata", "levels deep", id="deep-in-context"),
    ],
)
async def test_a_request_that_does_not_decode_is_invalid_argument_naming_the_field_it_can(
    tmp_path: Path, payload: bytes, field: str, problem: str
) -> None:
    async with memory_double(tmp_path) as (channel, servicer):
        raw = channel.unary_unary(CREATE_EPISODE, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await raw(payload)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = refused.value.details() or ""
    assert problem in details
    assert "DecodeError" not in details and "google.protobuf" not in details
    ((named, _),) = violations(refused.value)
    assert named == field
    assert servicer.received == []


async def test_streamed_requests_are_checked_one_by_one(tmp_path: Path) -> None:
    """Server reflection is the one client-streaming method: a corrupt request in its stream is refused."""
    async with memory_double(tmp_path) as (channel, _):
        good = reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()
        raw = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=None,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        call = raw(iter([good, b"\xff\xff\xff"]))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in call:
                pass
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # Reflection still works for a well-formed stream.
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {service.name async for reply in replies for service in reply.list_services_response.service}
    assert "cerebro.memory.v1.MemoryService" in names
