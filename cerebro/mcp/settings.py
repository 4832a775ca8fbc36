"""What `cerebro mcp` is told beyond the client's settings: the agent's signing key, and how to serve HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cerebro.client import AgentSigner
from cerebro.environment import ConfigError, Env

DEFAULT_PORT = 8090
DEFAULT_PATH = "/mcp"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class ServingTls:
    """The certificate (chain) and key the HTTP face serves HTTPS with."""

    cert_file: Path
    key_file: Path


def agent_signer(key_file: Path | None, instance_id: str | None, env: Env) -> AgentSigner | None:
    """The agent's signer from the arguments, else CEREBRO_AGENT_KEY_FILE and CEREBRO_AGENT_INSTANCE_ID;
    None when neither is given."""
    key_file = key_file or env.path("AGENT_KEY_FILE")
    instance_id = instance_id or env.str("AGENT_INSTANCE_ID")
    if key_file is None and instance_id is None:
        return None
    if key_file is None or instance_id is None:
        raise ConfigError(
            "signing needs both the agent's key file and its instance id (`cerebro join` prints it): "
            "--key-file and --instance-id, or CEREBRO_AGENT_KEY_FILE and CEREBRO_AGENT_INSTANCE_ID"
        )
    if not key_file.is_file():
        raise ConfigError(f"{key_file}: no such key file")
    return AgentSigner.from_key_file(key_file, instance_id)


def serving_tls(cert_file: Path | None, key_file: Path | None, env: Env) -> ServingTls | None:
    """HTTPS from the arguments, else CEREBRO_MCP_TLS_CERT_FILE and CEREBRO_MCP_TLS_KEY_FILE; None for HTTP."""
    cert = cert_file or env.path("MCP_TLS_CERT_FILE")
    key = key_file or env.path("MCP_TLS_KEY_FILE")
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError("HTTPS needs the certificate and its key together: --tls-cert-file and --tls-key-file")
    for path in (cert, key):
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
    return ServingTls(cert, key)
