"""The call guard: credentials, read-only scope and the token bucket (no server needed)."""

from __future__ import annotations

import inspect

import grpc
import pytest

from cerebro.gateway.v1 import gateway_pb2
from cerebro.runtime.errors import ServiceError
from services.gateway.api.gateway import GatewayApi
from services.gateway.auth import METHOD_ACCESS, RateLimiter, TokenBucket, bearer_token
from services.gateway.credentials import Principal, Scope


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def principal(scope: Scope = Scope.READ_WRITE, rate: float | None = None, burst: int | None = None) -> Principal:
    return Principal("key:0123456789abcdef", "nexus", scope, "NEXUS", rate, burst)


def test_every_gateway_method_has_an_access_rule() -> None:
    methods = {method.name for method in gateway_pb2.DESCRIPTOR.services_by_name["AgentGateway"].methods}
    assert set(METHOD_ACCESS) == methods


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


def test_the_api_implements_every_gateway_method_with_its_streaming_kind() -> None:
    for method in gateway_pb2.DESCRIPTOR.services_by_name["AgentGateway"].methods:
        implementation = getattr(GatewayApi, method.name, None)
        assert implementation is not None, f"GatewayApi lacks {method.name}"
        assert inspect.isasyncgenfunction(implementation) == method.server_streaming, method.name
