"""Configuration from ``CEREBRO_*`` environment variables.

Every secret also accepts ``<NAME>_FILE``: a path whose content is the value (the Docker-secrets
convention), so credentials never need to appear in a process listing or a compose file.
A bad value raises :class:`ConfigError` whose message is the one line printed at start-up.
"""

from __future__ import annotations

import builtins
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "CEREBRO_"

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

# Largest gRPC message in either direction, for servers and channels alike (a batch of long texts fits).
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


class Env:
    """Typed reads of ``CEREBRO_*`` variables from one environment mapping."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        return value if value not in (None, "") else None

    def secret(self, name: str) -> str | None:
        """``CEREBRO_<NAME>`` or the content of the file named by ``CEREBRO_<NAME>_FILE``."""
        direct, file_var = PREFIX + name, PREFIX + name + "_FILE"
        path = self.raw(file_var)
        if path is not None:
            if self.raw(direct) is not None:
                raise ConfigError(f"{direct} and {file_var} are both set; set only one")
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{file_var}: cannot read {path!r}: {exc.strerror}") from exc
        return self.raw(direct)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.str(name, default)
        assert value is not None
        if value not in choices:
            raise ConfigError(f"{PREFIX}{name}={value!r} must be one of: {', '.join(choices)}")
        return value

    def path(self, name: str, default: Path | None = None, *, must_exist: bool = False) -> Path | None:
        text = self.str(name)
        if text is None:
            return default
        path = Path(text).expanduser()
        if must_exist and not path.exists():
            raise ConfigError(f"{PREFIX}{name}={text!r}: no such file")
        return path

    # The typed reads come last: below them, `str`, `int`, ... in this class's annotations would name them.
    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str | None:
        return self.raw(PREFIX + name) or default

    def int(
        self,
        name: builtins.str,
        default: builtins.int,
        *,
        minimum: builtins.int | None = None,
        maximum: builtins.int | None = None,
    ) -> builtins.int:
        text = self.raw(PREFIX + name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name}={text!r} is not an integer") from None
        _check_range(PREFIX + name, value, minimum, maximum)
        return value

    def float(
        self,
        name: builtins.str,
        default: builtins.float,
        *,
        minimum: builtins.float | None = None,
        maximum: builtins.float | None = None,
    ) -> builtins.float:
        text = self.raw(PREFIX + name)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name}={text!r} is not a number") from None
        _check_range(PREFIX + name, value, minimum, maximum)
        return value

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        text = self.raw(PREFIX + name)
        if text is None:
            return default
        lowered = text.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{PREFIX}{name}={text!r} is not a boolean (use true or false)")


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is above the maximum {maximum}")


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
