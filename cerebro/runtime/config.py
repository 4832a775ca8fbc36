"""The settings of a Cerebro process (ports, identity, TLS, database and Redis URLs) from ``CEREBRO_*``.

The variables are read with :class:`cerebro.environment.Env`, which the client shares; a bad value
raises :class:`ConfigError` whose message is the one line printed at start-up.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Re-exported: the services import the configuration vocabulary and the message limit from here.
from cerebro.channel_options import MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES
from cerebro.environment import ConfigError as ConfigError
from cerebro.environment import Env as Env

# Default ports (CONTRIBUTING.md, "Names and ports"): (gRPC port, Prometheus metrics port).
DEFAULT_PORTS: dict[str, tuple[int | None, int]] = {
    "gateway": (50051, 9101),
    "memory": (50052, 9102),
    "embedder": (50053, 9103),
    "consensus": (50054, 9104),
    "embeddings-worker": (None, 9105),
    "reconciliation-worker": (None, 9106),
}


# Where every port of a process listens unless CEREBRO_BIND_HOST says otherwise: loopback, so that
# nothing is reachable from another host by default. Containers set 0.0.0.0 (their network is the
# boundary: see docs/deploy.md).
DEFAULT_BIND_HOST = "127.0.0.1"
# A server listening on every address is reached on loopback from its own host.
_LOCAL_HOST_FOR = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


@dataclass(frozen=True)
class TlsSettings:
    """Server certificate, and a CA to require (mutual TLS) and trust (as a client)."""

    cert_file: Path
    key_file: Path
    ca_file: Path | None = None

    @property
    def mutual(self) -> bool:
        return self.ca_file is not None


@dataclass(frozen=True)
class ServiceSettings:
    """What every Cerebro process needs to know about itself and the mesh."""

    service: str
    host: str
    port: int | None
    metrics_port: int
    instance_name: str
    region: str
    data_dir: Path
    grace_seconds: float
    tls: TlsSettings | None
    database_url: str | None
    redis_url: str | None
    targets: dict[str, str] = field(default_factory=dict)
    advertise_host: str = "localhost"
    register_with_consensus: bool = True

    @property
    def address(self) -> str:
        return host_port(self.host, self.port)

    @property
    def local_host(self) -> str:
        """The address a process on this host uses to reach this one's ports."""
        return local_host(self.host)

    def endpoint(self, port: int | None) -> str:
        """How other processes reach this one, as registered in the instance network."""
        return f"grpc://{self.advertise_host}:{port}" if port else f"worker://{self.advertise_host}"

    def target(self, service: str) -> str:
        """Address of another service: ``CEREBRO_<SERVICE>_TARGET`` or its default local port."""
        return self.targets[service]


def local_host(bind_host: str) -> str:
    """The address a process on this host reaches a server listening on ``bind_host`` at."""
    return _LOCAL_HOST_FOR.get(bind_host, bind_host)


def host_port(host: str, port: int | None) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def default_data_dir() -> Path:
    return Path.home() / ".cerebro"


def load_service_settings(service: str, environ: Mapping[str, str] | None = None) -> ServiceSettings:
    """Read the settings of ``service`` (a key of :data:`DEFAULT_PORTS`) from the environment."""
    if service not in DEFAULT_PORTS:
        raise ConfigError(f"unknown service {service!r}; known: {', '.join(DEFAULT_PORTS)}")
    env = Env(environ)
    key = service.upper().replace("-", "_")
    default_port, default_metrics = DEFAULT_PORTS[service]
    port = None if default_port is None else env.int(f"{key}_PORT", default_port, minimum=0, maximum=65535)
    host = env.str("BIND_HOST", DEFAULT_BIND_HOST) or DEFAULT_BIND_HOST
    targets = {
        name: env.str(f"{name.upper()}_TARGET", f"localhost:{ports[0]}") or ""
        for name, ports in DEFAULT_PORTS.items()
        if ports[0] is not None
    }
    return ServiceSettings(
        service=service,
        host=host,
        port=port,
        metrics_port=env.int(f"{key}_METRICS_PORT", default_metrics, minimum=0, maximum=65535),
        instance_name=env.str("INSTANCE_NAME", f"{service}@{socket.gethostname()}") or service,
        region=env.str("REGION", "local") or "local",
        data_dir=env.path("DATA_DIR", default_data_dir()) or default_data_dir(),
        grace_seconds=env.float("SHUTDOWN_GRACE_SECONDS", 10.0, minimum=0.0, maximum=600.0),
        tls=load_tls_settings(env),
        database_url=env.secret("DATABASE_URL"),
        redis_url=env.secret("REDIS_URL"),
        targets=targets,
        # A wildcard listen address is no address to give others; the host name is.
        advertise_host=env.str("ADVERTISE_HOST") or (host if host not in ("0.0.0.0", "::") else socket.gethostname()),
        register_with_consensus=env.bool("REGISTER", True),
    )


def load_tls_settings(env: Env) -> TlsSettings | None:
    """This process's certificate from CEREBRO_TLS_CERT_FILE, _KEY_FILE and (for mutual TLS) _CA_FILE."""
    cert = env.path("TLS_CERT_FILE", must_exist=True)
    key = env.path("TLS_KEY_FILE", must_exist=True)
    ca = env.path("TLS_CA_FILE", must_exist=True)
    if cert is None and key is None:
        if ca is not None:
            raise ConfigError("CEREBRO_TLS_CA_FILE is set without CEREBRO_TLS_CERT_FILE and CEREBRO_TLS_KEY_FILE")
        return None
    if cert is None or key is None:
        raise ConfigError("CEREBRO_TLS_CERT_FILE and CEREBRO_TLS_KEY_FILE must be set together")
    return TlsSettings(cert_file=cert, key_file=key, ca_file=ca)
