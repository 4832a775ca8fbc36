"""The shared server bootstrap and channel factory, through real gRPC servers on loopback ports.

The servicer here is a test double of the *application* (its behaviour is chosen per test); the gRPC
server, interceptors, health, reflection, metrics and channels under test are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cerebro.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from cerebro.healthcheck import is_serving
from cerebro.runtime.channels import open_channel
from cerebro.runtime.config import ConfigError
from cerebro.runtime.database import Schema
from cerebro.runtime.errors import invalid_argument, unavailable
from cerebro.runtime.server import ServiceHost
from tests.support import loopback_settings, running_host

SERVICE = embedder_pb2.DESCRIPTOR.services_by_name["EmbedderService"]


class ScriptedServicer(embedder_pb2_grpc.EmbedderServiceServicer):
    """Behaves as each test scripts it: `behaviour` maps the request text to an action."""

    def __init__(self) -> None:
        self.calls = 0
        self.failures_before_success = 0
        self.release = asyncio.Event()

    async def Embed(
        self, request: embedder_pb2.EmbedRequest, context: grpc.aio.ServicerContext
    ) -> embedder_pb2.EmbedResponse:
        self.calls += 1
        match request.text:
            case "bad":
                raise invalid_argument([("text", "is bad"), ("text", "is still bad")])
            case "crash":
                raise RuntimeError("secret internal detail")
            case "db-down":
                raise ConnectionRefusedError("connect call failed")
            case "flaky" if self.calls <= self.failures_before_success:
                raise unavailable("try again")
            case "slow":
                await self.release.wait()
        return embedder_pb2.EmbedResponse(embedding=[1.0], chunk_count=1, model_version="test")


@pytest.fixture(scope="module")
def span_exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


class DependencySwitch:
    def __init__(self) -> None:
        self.up = True

    async def probe(self) -> None:
        if not self.up:
            raise ConnectionRefusedError("dependency is down")


@contextlib.asynccontextmanager
async def scripted_server(tmp_path: Path) -> AsyncIterator[tuple[ServiceHost, ScriptedServicer, DependencySwitch]]:
    servicer, switch = ScriptedServicer(), DependencySwitch()

    @contextlib.asynccontextmanager
    async def lifespan(host: ServiceHost) -> AsyncIterator[None]:
        host.add_service(SERVICE, embedder_pb2_grpc.add_EmbedderServiceServicer_to_server, servicer)
        host.add_dependency("switch", switch.probe)
        yield

    async with running_host(loopback_settings("embedder", tmp_path), lifespan) as host:
        yield host, servicer, switch


async def test_service_error_becomes_status_with_field_violations(tmp_path: Path) -> None:
    async with scripted_server(tmp_path) as (host, _, _), open_channel(f"127.0.0.1:{host.bound_port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await embedder_pb2_grpc.EmbedderServiceStub(channel).Embed(embedder_pb2.EmbedRequest(text="bad"))
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("text", "is bad"),
        ("text", "is still bad"),
    ]


async def test_nul_characters_are_refused_naming_the_field(tmp_path: Path) -> None:
    async with (
        scripted_server(tmp_path) as (host, servicer, _),
        open_channel(f"127.0.0.1:{host.bound_port}") as channel,
    ):
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as single:
            await stub.Embed(embedder_pb2.EmbedRequest(text="NEXUS\x00ARIA"))
        with pytest.raises(grpc.aio.AioRpcError) as batch:
            await stub.EmbedBatch(embedder_pb2.EmbedBatchRequest(texts=["fine", "bad\x00"]))
    assert single.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(single.value)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == ["text"]
    assert "texts[1]" in (batch.value.details() or "")
    assert servicer.calls == 0  # refused before the servicer saw it


async def test_unexpected_error_is_internal_without_details_and_dependency_error_unavailable(tmp_path: Path) -> None:
    async with (
        scripted_server(tmp_path) as (host, _, _),
        open_channel(f"127.0.0.1:{host.bound_port}", max_attempts=1) as channel,
    ):
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as crash:
            await stub.Embed(embedder_pb2.EmbedRequest(text="crash"))
        with pytest.raises(grpc.aio.AioRpcError) as down:
            await stub.Embed(embedder_pb2.EmbedRequest(text="db-down"))
    assert crash.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (crash.value.details() or "")
    assert "Traceback" not in (crash.value.details() or "")
    assert down.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_channel_retries_unavailable_with_backoff(tmp_path: Path) -> None:
    async with scripted_server(tmp_path) as (host, servicer, _):
        servicer.failures_before_success = 2
        async with open_channel(f"127.0.0.1:{host.bound_port}") as channel:
            response = await embedder_pb2_grpc.EmbedderServiceStub(channel).Embed(
                embedder_pb2.EmbedRequest(text="flaky")
            )
    assert response.model_version == "test"
    assert servicer.calls == 3


async def test_channel_default_deadline(tmp_path: Path) -> None:
    async with (
        scripted_server(tmp_path) as (host, servicer, _),
        open_channel(f"127.0.0.1:{host.bound_port}", timeout_seconds=0.3) as channel,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await embedder_pb2_grpc.EmbedderServiceStub(channel).Embed(embedder_pb2.EmbedRequest(text="slow"))
        servicer.release.set()
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_health_follows_dependency_and_reflection_lists_services(tmp_path: Path) -> None:
    async with scripted_server(tmp_path) as (host, _, switch), open_channel(f"127.0.0.1:{host.bound_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        serving = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE.full_name))
        assert serving.status == health_pb2.HealthCheckResponse.SERVING

        address = f"127.0.0.1:{host.bound_port}"
        assert await asyncio.to_thread(is_serving, address)

        switch.up = False
        await _wait_for_health(health, health_pb2.HealthCheckResponse.NOT_SERVING)
        assert "switch" in host.dependency_errors
        assert not await asyncio.to_thread(is_serving, address)
        switch.up = True
        await _wait_for_health(health, health_pb2.HealthCheckResponse.SERVING)

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name async for r in responses for s in r.list_services_response.service}
    assert {SERVICE.full_name, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


async def _wait_for_health(health: health_pb2_grpc.HealthStub, wanted: int) -> None:
    for _ in range(50):
        response = await health.Check(health_pb2.HealthCheckRequest())
        if response.status == wanted:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"health never became {wanted}")


async def test_metrics_count_requests_by_method_and_code(tmp_path: Path) -> None:
    async with (
        scripted_server(tmp_path) as (host, _, _),
        open_channel(f"127.0.0.1:{host.bound_port}", max_attempts=1) as channel,
    ):
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        await stub.Embed(embedder_pb2.EmbedRequest(text="fine"))
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Embed(embedder_pb2.EmbedRequest(text="bad"))
        url = f"http://127.0.0.1:{host.bound_metrics_port}/metrics"
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    labels = 'grpc_code="{code}",grpc_method="Embed",grpc_service="cerebro.embedder.v1.EmbedderService"'
    assert f"grpc_server_handled_total{{{labels.format(code='OK')}}}" in text
    assert f"grpc_server_handled_total{{{labels.format(code='INVALID_ARGUMENT')}}}" in text
    assert "grpc_server_handling_seconds_bucket" in text
    assert "grpc_server_in_flight" in text


async def test_trace_context_crosses_the_hop(tmp_path: Path, span_exporter: InMemorySpanExporter) -> None:
    span_exporter.clear()
    async with scripted_server(tmp_path) as (host, _, _), open_channel(f"127.0.0.1:{host.bound_port}") as channel:
        with trace.get_tracer("test").start_as_current_span("caller") as caller:
            await embedder_pb2_grpc.EmbedderServiceStub(channel).Embed(embedder_pb2.EmbedRequest(text="fine"))
    spans = span_exporter.get_finished_spans()
    server_spans = [s for s in spans if s.kind == trace.SpanKind.SERVER]
    assert server_spans, [s.name for s in spans]
    assert server_spans[0].context.trace_id == caller.get_span_context().trace_id


async def test_graceful_shutdown_drains_in_flight_calls_and_refuses_new_ones(tmp_path: Path) -> None:
    async with scripted_server(tmp_path) as (host, servicer, _):
        address = f"127.0.0.1:{host.bound_port}"
        async with open_channel(address, max_attempts=1) as channel:
            stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
            in_flight = asyncio.ensure_future(stub.Embed(embedder_pb2.EmbedRequest(text="slow")))
            while servicer.calls == 0:
                await asyncio.sleep(0.01)
            host.request_stop()
            await asyncio.sleep(0.3)
            servicer.release.set()
            response = await in_flight
    assert response.model_version == "test"
    async with open_channel(address, max_attempts=1, timeout_seconds=1) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await embedder_pb2_grpc.EmbedderServiceStub(channel).Embed(embedder_pb2.EmbedRequest(text="late"))
    assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class RecordingInterceptor(grpc.aio.ServerInterceptor):
    """Records the methods it sees; refuses the one named ``refuse`` before any handler runs."""

    def __init__(self, refuse: str = "") -> None:
        self.seen: list[str] = []
        self.refuse = refuse

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        self.seen.append(details.method)
        if details.method == self.refuse:
            return grpc.unary_unary_rpc_method_handler(self._refused)
        return await continuation(details)

    async def _refused(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        raise unavailable("refused by the interceptor")


async def test_added_interceptors_see_every_call_and_their_errors_become_statuses(tmp_path: Path) -> None:
    recorder = RecordingInterceptor(refuse="/cerebro.embedder.v1.EmbedderService/EmbedBatch")
    servicer = ScriptedServicer()

    @contextlib.asynccontextmanager
    async def lifespan(host: ServiceHost) -> AsyncIterator[None]:
        host.add_service(SERVICE, embedder_pb2_grpc.add_EmbedderServiceServicer_to_server, servicer)
        host.add_interceptor(recorder)
        yield

    async with (
        running_host(loopback_settings("embedder", tmp_path), lifespan) as host,
        open_channel(f"127.0.0.1:{host.bound_port}", max_attempts=1) as channel,
    ):
        stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
        await stub.Embed(embedder_pb2.EmbedRequest(text="hello"))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.EmbedBatch(embedder_pb2.EmbedBatchRequest(texts=["x"]))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert recorder.seen == [
        "/cerebro.embedder.v1.EmbedderService/Embed",
        "/cerebro.embedder.v1.EmbedderService/EmbedBatch",
    ]
    assert servicer.calls == 1


async def test_add_postgres_migrates_opens_probes_and_closes(fresh_database_url: str, tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_notes.sql").write_text("CREATE TABLE notes (body text NOT NULL);")
    pools: list[asyncpg.Pool] = []

    @contextlib.asynccontextmanager
    async def lifespan(host: ServiceHost) -> AsyncIterator[None]:
        pools.append(await host.add_postgres(Schema("test", migrations), max_size=2))
        yield

    settings = loopback_settings("embedder", tmp_path, {"CEREBRO_DATABASE_URL": fresh_database_url})
    async with running_host(settings, lifespan) as host:
        await pools[0].execute("INSERT INTO notes VALUES ('kept')")
        assert host.dependency_errors == {}
    assert pools[0].is_closing()
    connection = await asyncpg.connect(fresh_database_url)
    try:
        assert await connection.fetchval("SELECT body FROM notes") == "kept"
    finally:
        await connection.close()


async def test_add_postgres_without_a_database_url_stops_the_start_naming_the_variable(tmp_path: Path) -> None:
    @contextlib.asynccontextmanager
    async def lifespan(host: ServiceHost) -> AsyncIterator[None]:
        await host.add_postgres(None)
        yield

    with pytest.raises(ConfigError, match="CEREBRO_DATABASE_URL"):
        async with running_host(loopback_settings("embedder", tmp_path), lifespan):
            pass
