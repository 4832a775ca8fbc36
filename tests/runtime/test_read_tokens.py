"""The read-token interceptors of the service kit, through two real gRPC servers on loopback ports: a
"front" service that forwards each call twice to a "store" service, as the gateway does to memory.

The servicers are test doubles of the *application* (a write is a token named in the request); the
servers, interceptors and channels under test are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.read_tokens import REQUIRED_HEADER, WRITTEN_HEADER, ReadToken
from cerebro.runtime.channels import open_channel
from cerebro.runtime.read_tokens import ForwardReadTokens, note_write, read_tokens_interceptor, required_token
from cerebro.runtime.server import ServiceHost
from tests.support import loopback_settings, running_host

SERVICE = embedder_pb2.DESCRIPTOR.services_by_name["EmbedderService"]


class Store(embedder_pb2_grpc.EmbedderServiceServicer):
    """``write <token>`` writes; every call answers the token it had to see (model_version)."""

    def __init__(self) -> None:
        self.calls = 0

    async def Embed(
        self, request: embedder_pb2.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> embedder_pb2.EmbedResponse:
        self.calls += 1
        seen = str(required_token() or "")
        verb, _, token = request.text.partition(" ")
        if verb == "write":
            written = ReadToken.parse(token)
            assert written is not None
            note_write(written)
        return embedder_pb2.EmbedResponse(model_version=seen)


class Front(embedder_pb2_grpc.EmbedderServiceServicer):
    """Forwards its request, then a read, to the store; answers what the store saw each time."""

    def __init__(self, store: embedder_pb2_grpc.EmbedderServiceStub) -> None:
        self.store = store

    async def Embed(
        self, request: embedder_pb2.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> embedder_pb2.EmbedResponse:
        first = await self.store.Embed(request)
        second = await self.store.Embed(embedder_pb2.EmbedRequest(text="read"))
        return embedder_pb2.EmbedResponse(model_version=f"{first.model_version},{second.model_version}")


@contextlib.asynccontextmanager
async def serving(servicer: embedder_pb2_grpc.EmbedderServiceServicer, tmp_path: Path) -> AsyncIterator[str]:
    @contextlib.asynccontextmanager
    async def lifespan(host: ServiceHost) -> AsyncIterator[None]:
        host.add_interceptor(read_tokens_interceptor())
        host.add_service(SERVICE, embedder_pb2_grpc.add_EmbedderServiceServicer_to_server, servicer)
        yield

    async with running_host(loopback_settings("embedder", tmp_path), lifespan) as host:
        yield f"127.0.0.1:{host.bound_port}"


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[tuple[embedder_pb2_grpc.EmbedderServiceStub, Store]]:
    store = Store()
    (tmp_path / "store").mkdir()
    (tmp_path / "front").mkdir()
    async with (
        serving(store, tmp_path / "store") as store_target,
        open_channel(store_target, max_attempts=1, interceptors=[ForwardReadTokens()]) as store_channel,
        serving(Front(embedder_pb2_grpc.EmbedderServiceStub(store_channel)), tmp_path / "front") as front_target,
        open_channel(front_target, max_attempts=1) as front_channel,
    ):
        yield embedder_pb2_grpc.EmbedderServiceStub(front_channel), store


def written_header(trailers: grpc.aio.Metadata | None) -> list[str]:
    return [str(value) for key, value in trailers or () if key == WRITTEN_HEADER]


async def test_the_callers_token_goes_down_and_a_downstream_write_comes_back_up(
    mesh: tuple[embedder_pb2_grpc.EmbedderServiceStub, Store],
) -> None:
    front, _ = mesh
    call = front.Embed(embedder_pb2.EmbedRequest(text="write 0/20:7"), metadata=((REQUIRED_HEADER, "0/10"),))
    answer = await call
    # The write sees the caller's token; the read after it in the same call sees the write too.
    assert answer.model_version == "0/10,0/20:7"
    assert written_header(await call.trailing_metadata()) == ["0/20:7"]


async def test_a_call_that_wrote_nothing_answers_no_token(
    mesh: tuple[embedder_pb2_grpc.EmbedderServiceStub, Store],
) -> None:
    front, _ = mesh
    call = front.Embed(embedder_pb2.EmbedRequest(text="read"))
    assert (await call).model_version == ","
    assert written_header(await call.trailing_metadata()) == []


async def test_of_several_tokens_the_latest_is_required(
    mesh: tuple[embedder_pb2_grpc.EmbedderServiceStub, Store],
) -> None:
    front, _ = mesh
    metadata = ((REQUIRED_HEADER, "0/30"), (REQUIRED_HEADER, "1/0:9"), (REQUIRED_HEADER, "0/40"))
    answer = await front.Embed(embedder_pb2.EmbedRequest(text="read"), metadata=metadata)
    assert answer.model_version == "1/0:9,1/0:9"


async def test_a_malformed_token_is_refused_before_the_method_runs(
    mesh: tuple[embedder_pb2_grpc.EmbedderServiceStub, Store],
) -> None:
    front, store = mesh
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await front.Embed(embedder_pb2.EmbedRequest(text="write 0/20:7"), metadata=((REQUIRED_HEADER, "latest"),))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error.value)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [violation.field for violation in bad_request.field_violations] == [REQUIRED_HEADER]
    assert store.calls == 0


async def test_concurrent_calls_keep_their_own_tokens(
    mesh: tuple[embedder_pb2_grpc.EmbedderServiceStub, Store],
) -> None:
    front, _ = mesh

    async def write(required: str, written: str) -> tuple[str, list[str]]:
        call = front.Embed(embedder_pb2.EmbedRequest(text=f"write {written}"), metadata=((REQUIRED_HEADER, required),))
        return (await call).model_version, written_header(await call.trailing_metadata())

    outcomes = await asyncio.gather(*(write(f"0/{n}", f"0/{n}0:{n}") for n in range(1, 9)))
    assert outcomes == [(f"0/{n},0/{n}0:{n}", [f"0/{n}0:{n}"]) for n in range(1, 9)]
