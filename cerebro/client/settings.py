"""Where the gateway is, how to authenticate to it and how long calls may take, from arguments or CEREBRO_*."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

from cerebro.environment import ConfigError, Env

DEFAULT_TARGET = "localhost:50051"
DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ClientTls:
    """Trust ``ca_file`` (the system roots when None); present ``cert_file``/``key_file`` for mutual TLS."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_file.read_bytes() if self.ca_file else None,
            private_key=self.key_file.read_bytes() if self.key_file else None,
            certificate_chain=self.cert_file.read_bytes() if self.cert_file else None,
        )


@dataclass(frozen=True)
class ClientSettings:
    target: str = DEFAULT_TARGET
    api_key: str | None = None
    tls: ClientTls | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    @classmethod
    def from_env(
        cls,
        *,
        target: str | None = None,
        api_key: str | None = None,
        timeout_seconds: float | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ClientSettings:
        """Arguments win; otherwise CEREBRO_GATEWAY_TARGET, CEREBRO_API_KEY(_FILE), CEREBRO_TLS_*,
        CEREBRO_CLIENT_TIMEOUT_SECONDS. Raises ConfigError naming a bad variable."""
        env = Env(environ)
        return cls(
            target=target or env.str("GATEWAY_TARGET", DEFAULT_TARGET) or DEFAULT_TARGET,
            api_key=api_key or env.secret("API_KEY"),
            tls=_client_tls(env),
            timeout_seconds=timeout_seconds
            or env.float("CLIENT_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS, minimum=0.001),
        )


def _client_tls(env: Env) -> ClientTls | None:
    # Unlike a server, a client may use TLS with only a CA (no certificate of its own).
    ca = env.path("TLS_CA_FILE", must_exist=True)
    cert = env.path("TLS_CERT_FILE", must_exist=True)
    key = env.path("TLS_KEY_FILE", must_exist=True)
    if (cert is None) != (key is None):
        raise ConfigError("CEREBRO_TLS_CERT_FILE and CEREBRO_TLS_KEY_FILE must be set together")
    if ca is None and cert is None:
        return None
    return ClientTls(ca_file=ca, cert_file=cert, key_file=key)
