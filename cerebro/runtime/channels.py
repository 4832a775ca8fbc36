"""The one factory for service-to-service channels.

Every channel gets the same TLS, tracing, keepalive and message limits as the servers, clean errors
for responses that cannot be decoded (:mod:`cerebro.runtime.response_checks`), a default
deadline for every call, and transparent retries with exponential backoff for UNAVAILABLE (the
code our services use for "a dependency is down, nothing was done, try again"). Retries live in
gRPC's service config, so they apply per attempt and respect the call's overall deadline.

Under TLS, a channel opened for a ``server_role`` accepts only a server whose certificate holds that
role's DNS name (``<role>.cerebro.internal``, see :mod:`cerebro.runtime.roles`), whatever address it dials.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from cerebro.channel_options import CHANNEL_OPTIONS
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.response_checks import decoding_interceptors
from cerebro.runtime.roles import Role, role_dns_name

DEFAULT_TIMEOUT_SECONDS = 10.0


def service_config(timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, max_attempts: int = 4) -> str:
    """Default deadline for every method, and retries of UNAVAILABLE when ``max_attempts`` > 1."""
    method_config: dict[str, Any] = {"name": [{}], "timeout": f"{timeout_seconds:.3f}s"}
    if max_attempts > 1:
        method_config["retryPolicy"] = {
            "maxAttempts": max_attempts,
            "initialBackoff": "0.1s",
            "maxBackoff": "2s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }
    return json.dumps({"methodConfig": [method_config]})


def channel_credentials(tls: TlsSettings) -> grpc.ChannelCredentials:
    """Trust ``ca_file`` (or the system roots) and present our certificate for mutual TLS."""
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca_file.read_bytes() if tls.ca_file else None,
        private_key=tls.key_file.read_bytes(),
        certificate_chain=tls.cert_file.read_bytes(),
    )


def open_channel(
    target: str,
    tls: TlsSettings | None = None,
    *,
    server_role: Role | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_attempts: int = 4,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
) -> grpc.aio.Channel:
    """A channel to another Cerebro service at ``target`` (``host:port`` or any gRPC target URI).

    With ``tls`` and ``server_role``, the server must prove that role (else the host name of ``target``
    is verified, as by any TLS client). ``interceptors`` run inside the channel's own (tracing, decoding).
    """
    options: list[tuple[str, Any]] = [
        *CHANNEL_OPTIONS,
        ("grpc.service_config", service_config(timeout_seconds, max_attempts)),
        ("grpc.enable_retries", 1),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.lb_policy_name", "round_robin"),
    ]
    # Tracing outside, so that a response that cannot be decoded is recorded as the failure it is.
    chain = [*aio_client_interceptors(), *decoding_interceptors(), *interceptors]
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=chain)
    if server_role is not None:
        options.append(("grpc.ssl_target_name_override", role_dns_name(server_role)))
    return grpc.aio.secure_channel(target, channel_credentials(tls), options=options, interceptors=chain)
