"""The call guard and what it is built from: access levels declared in gateway.proto, credentials, the
token bucket, and a servicer implementing every method (no server needed)."""

from __future__ import annotations

import inspect
import uuid

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

from cerebro.gateway.v1 import gateway_pb2, gateway_pb2_grpc, options_pb2
from cerebro.runtime.errors import ServiceError
from services.gateway.access import METHOD_ACCESS, PUBLIC_METHODS, SERVICE, MissingAccess, declared_access
from services.gateway.api.base import ApiBase
from services.gateway.api.servicer import GatewayServicer
from services.gateway.auth import RateLimiter, TokenBucket, bearer_token
from services.gateway.store.credentials import Principal, Scope


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def principal(scope: Scope = Scope.READ_WRITE, rate: float | None = None, burst: int | None = None) -> Principal:
    return Principal("key:0123456789abcdef", "nexus", scope, "NEXUS", rate, burst)


def test_every_gateway_method_declares_its_access_in_the_proto() -> None:
    for method in SERVICE.methods:
        declared = method.GetOptions().Extensions[options_pb2.access]
        assert declared != options_pb2.ACCESS_UNSPECIFIED, f"{method.name} declares no access"
        assert METHOD_ACCESS[method.name] == declared
    assert {"GetHealth"} == PUBLIC_METHODS
    # Spot checks of what the levels mean: writes need a read-write credential.
    assert METHOD_ACCESS["Remember"] == options_pb2.ACCESS_WRITE
    assert METHOD_ACCESS["SubscribeLearnings"] == options_pb2.ACCESS_WRITE
    assert METHOD_ACCESS["RestoreCheckpoint"] == options_pb2.ACCESS_READ


def test_a_method_without_an_access_level_is_refused_before_serving() -> None:
    package = f"undeclared{uuid.uuid4().hex[:8]}"
    file = descriptor_pb2.FileDescriptorProto(
        name=f"{package}.proto", package=package, syntax="proto3", dependency=["cerebro/gateway/v1/options.proto"]
    )
    file.message_type.add(name="Empty")
    service = file.service.add(name="Things")
    declared = service.method.add(name="Declared", input_type=f".{package}.Empty", output_type=f".{package}.Empty")
    declared.options.Extensions[options_pb2.access] = options_pb2.ACCESS_READ
    service.method.add(name="Forgotten", input_type=f".{package}.Empty", output_type=f".{package}.Empty")
    descriptor_pool.Default().Add(file)
    with pytest.raises(MissingAccess, match="Forgotten"):
        declared_access(descriptor_pool.Default().FindServiceByName(f"{package}.Things"))


def test_bearer_token_is_read_from_the_authorization_metadata() -> None:
    assert bearer_token([("x-other", "1"), ("authorization", "Bearer crb_abc")]) == "crb_abc"
    assert bearer_token([("Authorization", b"bearer  crb_abc ")]) == "crb_abc"
    assert bearer_token([]) is None
    for value in ("Basic dXNlcg==", "Bearer", "crb_abc"):
        with pytest.raises(ServiceError) as caught:
            bearer_token([("authorization", value)])
        assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.5) == pytest.approx(0.5)


def test_rate_limit_is_resource_exhausted_with_retry_info() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1.0, burst=2, clock=clock)
    limiter.charge(principal())
    limiter.charge(principal())
    with pytest.raises(ServiceError) as caught:
        limiter.charge(principal())
    assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    (retry_info,) = caught.value.details
    assert retry_info.retry_delay.ToNanoseconds() == 1_000_000_000
    clock.now += 1.0
    limiter.charge(principal())


def test_a_credential_can_carry_its_own_limit() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, clock=FakeClock())
    generous = principal(rate=100.0, burst=5)
    for _ in range(5):
        limiter.charge(generous)
    with pytest.raises(ServiceError):
        limiter.charge(generous)


def test_the_servicer_implements_every_method_of_the_generated_base_with_its_streaming_kind() -> None:
    generated = gateway_pb2_grpc.AgentGatewayServicer
    for method in SERVICE.methods:
        implementation = getattr(GatewayServicer, method.name)
        assert implementation is not getattr(generated, method.name), f"{method.name} is left to the generated base"
        assert inspect.isasyncgenfunction(implementation) == method.server_streaming, method.name
        assert inspect.iscoroutinefunction(implementation) != method.server_streaming, method.name
        # Each part is a subclass of the generated servicer, so its methods are overrides an IDE finds.
        owner = next(cls for cls in GatewayServicer.__mro__ if method.name in vars(cls))
        assert issubclass(owner, ApiBase) and issubclass(owner, generated), owner
        assert list(inspect.signature(implementation).parameters) == ["self", "request", "context"]
    assert gateway_pb2.DESCRIPTOR.services_by_name["AgentGateway"] is SERVICE
