"""Container health probe: `python -m cerebro.healthcheck [--plaintext] HOST:PORT [SERVICE]` exits 0 when SERVING.

Used by the docker-compose healthchecks, the Kubernetes exec probes and `cerebro up`. It speaks TLS with
the process's own ``CEREBRO_TLS_*`` certificate when those are set (a service under mutual TLS answers
nobody else), verifying the host name it dials; ``--plaintext`` is for a port served without TLS (the
gateway's agent-facing port behind a TLS-terminating proxy).
"""

from __future__ import annotations

import sys
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cerebro.runtime.config import ConfigError, Env, TlsSettings, load_tls_settings
from cerebro.runtime.roles import Role, role_dns_name


def is_serving(
    target: str,
    service: str = "",
    timeout: float = 2.0,
    *,
    tls: TlsSettings | None = None,
    server_role: Role | None = None,
) -> bool:
    """Whether ``target`` reports SERVING; under ``tls``, a server proving ``server_role`` (else the host name)."""
    if tls is None:
        channel = grpc.insecure_channel(target)
    else:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=tls.ca_file.read_bytes() if tls.ca_file else None,
            private_key=tls.key_file.read_bytes(),
            certificate_chain=tls.cert_file.read_bytes(),
        )
        options = [] if server_role is None else [("grpc.ssl_target_name_override", role_dns_name(server_role))]
        channel = grpc.secure_channel(target, credentials, options=options)
    with channel:
        try:
            # typeshed's HealthStub declares no methods.
            stub: Any = health_pb2_grpc.HealthStub(channel)
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError:
            return False
    serving: bool = response.status == health_pb2.HealthCheckResponse.SERVING
    return serving


def main(argv: list[str]) -> int:
    plaintext = bool(argv) and argv[0] == "--plaintext"
    arguments = argv[1:] if plaintext else argv
    if not 1 <= len(arguments) <= 2:
        print("usage: python -m cerebro.healthcheck [--plaintext] HOST:PORT [SERVICE]", file=sys.stderr)
        return 2
    try:
        tls = None if plaintext else load_tls_settings(Env())
    except ConfigError as error:
        print(f"healthcheck: {error}", file=sys.stderr)
        return 2
    target, service = arguments[0], arguments[1] if len(arguments) == 2 else ""
    return 0 if is_serving(target, service, tls=tls) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
