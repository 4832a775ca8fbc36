"""Container health probe: `python -m cerebro.healthcheck HOST:PORT [SERVICE]` exits 0 when SERVING.

Used by docker-compose healthchecks (Kubernetes has native gRPC probes) and by `cerebro up`.
"""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def is_serving(target: str, service: str = "", timeout: float = 2.0) -> bool:
    with grpc.insecure_channel(target) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return response.status == health_pb2.HealthCheckResponse.SERVING


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print("usage: python -m cerebro.healthcheck HOST:PORT [SERVICE]", file=sys.stderr)
        return 2
    return 0 if is_serving(*argv) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
