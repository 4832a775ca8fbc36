"""Settings of the gateway's HTTP/JSON face (CEREBRO_GATEWAY_HTTP_*), read once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cerebro.runtime.config import Env
from cerebro.transcoding.server import ServerSettings

DEFAULT_PORT = 8080


@dataclass(frozen=True)
class HttpSettings(ServerSettings):
    """The transcoder's settings, read from the environment. The default body limit, 1 MiB, holds the
    largest request (a 256 KiB episode with 64 KiB of metadata) even when every character is \\u-escaped."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HttpSettings:
        env = Env(environ)
        return cls(
            port=env.int("GATEWAY_HTTP_PORT", DEFAULT_PORT, minimum=0, maximum=65535),
            max_body_bytes=env.int("GATEWAY_HTTP_MAX_BODY_BYTES", 1024 * 1024, minimum=1024, maximum=64 * 1024 * 1024),
            default_timeout_seconds=env.float("GATEWAY_HTTP_TIMEOUT_SECONDS", 30.0, minimum=0.1, maximum=3600.0),
            read_timeout_seconds=env.float("GATEWAY_HTTP_READ_TIMEOUT_SECONDS", 15.0, minimum=0.5, maximum=3600.0),
            max_connections_per_client=env.int(
                "GATEWAY_HTTP_MAX_CONNECTIONS_PER_CLIENT", 64, minimum=1, maximum=100_000
            ),
        )
