"""`cerebro up`: every Cerebro process on this machine, supervised, with nothing left behind on exit."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

from cerebro.cli.commands import Command
from cerebro.embedded import EmbeddedServerError, EmbeddedStack
from cerebro.healthcheck import is_serving
from cerebro.runtime.config import (
    DEFAULT_BIND_HOST,
    ConfigError,
    Env,
    ServiceSettings,
    TlsSettings,
    default_data_dir,
    host_port,
    load_service_settings,
)
from cerebro.runtime.database_roles import enable_role_logins
from cerebro.runtime.mesh_ca import MeshAuthority
from cerebro.runtime.migrations import MigrationError
from cerebro.runtime.roles import Role
from services.cli.migrate import apply_all
from services.cli.serve import PROCESS_MODULES, SUPERVISOR_PID_VARIABLE
from services.gateway.http.settings import HttpSettings

DESCRIPTION = """\
Start every Cerebro service and worker as its own process on the default ports and wait until each
is serving. Without CEREBRO_DATABASE_URL / CEREBRO_REDIS_URL (or their _FILE variants) it starts an
embedded PostgreSQL 18 + pgvector and Redis whose data stays in the data directory across restarts.
Every port listens on CEREBRO_BIND_HOST, by default 127.0.0.1 only. The internal services speak mutual
TLS only: every process gets a certificate with its role from a mesh CA kept in <data dir>/tls (made on
the first run), and tools use <data dir>/tls/operator.crt. The gateway's agent-facing ports stay
plaintext. With the embedded database, the migrations are applied first, as its owner, and the gateway
and consensus log in as their own least-privilege roles (cerebro_gateway, cerebro_consensus). Logs go to
<data dir>/logs/<process>.log. The gateway's forwarding proof, with which `cerebro mcp --transport http`
names each agent's address, is kept in <data dir>/secrets/gateway_forwarding_proof unless
CEREBRO_GATEWAY_FORWARDING_PROOF(_FILE) is set. Ctrl-C or SIGTERM stops everything, embedded servers
included. A process that dies is restarted with backoff."""
# One grpcurl line per service, shown once it is up ({tls}: the operator's certificate flags).
TRY_EXAMPLES = {
    "embedder": 'grpcurl {tls} -d \'{{"text": "NEXUS remembers"}}\' {address} '
    "cerebro.embedder.v1.EmbedderService/Embed",
    "consensus": "grpcurl {tls} {address} cerebro.consensus.v1.ConsensusService/ListInstances",
    "gateway": "grpcurl -plaintext {address} describe cerebro.gateway.v1.AgentGateway",
}

# Under the embedded database, these processes log in as their own least-privilege role with a
# password generated into the data directory; `cerebro up` applies the migrations first, as the owner.
SERVICE_DATABASE_LOGINS = {"gateway": "cerebro_gateway", "consensus": "cerebro_consensus"}

EMBEDDED_DATABASE_ROLES = {
    "CEREBRO_MEMORY_DATABASE_ROLE": "cerebro_memory",
    "CEREBRO_EMBEDDINGS_WORKER_DATABASE_ROLE": "cerebro_memory_worker",
    "CEREBRO_RECONCILIATION_WORKER_DATABASE_ROLE": "cerebro_memory_worker",
}

POLL_SECONDS = 0.5
MAX_RESTART_DELAY_SECONDS = 30.0


@dataclass
class Child:
    name: str
    module: str
    settings: ServiceSettings
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    restart_at: float = 0.0
    log_file: Path = field(default_factory=Path)
    # This process's own settings on top of the shared environment (its certificate, its database login).
    environ: dict[str, str] = field(default_factory=dict)
    # The operator's certificate, to ask an internal service whether it serves (None: plaintext).
    probe_tls: TlsSettings | None = None


class _StopRequested(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested


def _write_secret(path: Path, value: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return path


def _give_forwarding_proof(environ: dict[str, str], secrets_dir: Path) -> Path | None:
    """The file of the gateway's forwarding proof (cerebro/forwarded_client.py), for `cerebro mcp --transport
    http` to be given: made on the first run and kept, unless the operator gave the gateway one."""
    if "CEREBRO_GATEWAY_FORWARDING_PROOF" in environ:
        return None
    given = environ.get("CEREBRO_GATEWAY_FORWARDING_PROOF_FILE")
    if given:
        return Path(given)
    path = secrets_dir / "gateway_forwarding_proof"
    _read_or_write_secret(path, secrets.token_urlsafe(32))
    environ["CEREBRO_GATEWAY_FORWARDING_PROOF_FILE"] = str(path)
    return path


def _give_certificates(children: list[Child], directory: Path) -> TlsSettings:
    """A certificate of the mesh CA in ``directory`` for every process, with its role; returns the operator's.

    The CA is made on the first run and kept; a certificate is issued again only when it is missing, about
    to expire, or not from this CA, so a running `cerebro up` never sees its files change.
    """
    authority = MeshAuthority.load_or_create(directory)
    operator = authority.ensure(Role.OPERATOR)
    for child in children:
        tls = authority.ensure(Role(child.name))
        assert tls.ca_file is not None
        child.environ = {
            "CEREBRO_TLS_CERT_FILE": str(tls.cert_file),
            "CEREBRO_TLS_KEY_FILE": str(tls.key_file),
            "CEREBRO_TLS_CA_FILE": str(tls.ca_file),
        }
        if child.name == Role.GATEWAY:
            # Agents reach the gateway plaintext on this machine (the README's examples); its calls into the
            # mesh still present its certificate.
            child.environ["CEREBRO_GATEWAY_SERVE_TLS"] = "false"
        else:
            child.probe_tls = operator
    return operator


def _tls_flags(operator: TlsSettings) -> str:
    return f"-cacert {operator.ca_file} -cert {operator.cert_file} -key {operator.key_file}"


def _spawn(child: Child, environ: Mapping[str, str]) -> None:
    child.log_file.parent.mkdir(parents=True, exist_ok=True)
    with child.log_file.open("ab") as log:
        child.process = subprocess.Popen(
            [sys.executable, "-m", "cerebro", "serve", child.name],
            env={**environ, **child.environ, SUPERVISOR_PID_VARIABLE: str(os.getpid())},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _is_ready(child: Child) -> bool:
    settings = child.settings
    if settings.port is None:
        try:
            with urllib.request.urlopen(
                f"http://{host_port(settings.local_host, settings.metrics_port)}/metrics", timeout=1
            ):
                return True
        except OSError:
            return False
    return is_serving(
        host_port(settings.local_host, settings.port), timeout=1, tls=child.probe_tls, server_role=Role(child.name)
    )


async def _service_logins(owner_url: str, secrets_dir: Path) -> dict[str, dict[str, str]]:
    """Apply every migration as the owner, give each service role a login (its password kept in
    ``secrets_dir``), and return the variables of each process that logs in as one."""
    await apply_all(owner_url)
    passwords = {
        role: _read_or_write_secret(secrets_dir / f"{role}_password", secrets.token_urlsafe(32))
        for role in SERVICE_DATABASE_LOGINS.values()
    }
    await enable_role_logins(owner_url, passwords)
    logins = {}
    for service, role in SERVICE_DATABASE_LOGINS.items():
        url_file = _write_secret(secrets_dir / f"database_url_{service}", _with_login(owner_url, role, passwords[role]))
        logins[service] = {
            "CEREBRO_DATABASE_URL_FILE": str(url_file),
            # Applied above, by the owner: the role could not.
            f"CEREBRO_{service.upper()}_APPLY_MIGRATIONS": "false",
        }
    return logins


def _read_or_write_secret(path: Path, new_value: str) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    _write_secret(path, new_value)
    return new_value


def _with_login(url: str, user: str, password: str) -> str:
    """``url`` logging in as ``user`` with ``password`` (URL-safe, as generated here)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def _stop_children(children: list[Child], grace_seconds: float) -> None:
    running = [c for c in reversed(children) if c.process is not None and c.process.poll() is None]
    for child in running:
        assert child.process is not None
        child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds + 5
    for child in running:
        assert child.process is not None
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"  {child.name} did not stop in time; killing it", flush=True)
            child.process.kill()
            child.process.wait()


def _print_banner(
    children: list[Child],
    data_dir: Path,
    embedded: bool,
    environ: Mapping[str, str],
    operator: TlsSettings,
    proof_file: Path | None,
) -> None:
    print(f"\nCerebro is up. Data: {data_dir}{' (embedded PostgreSQL and Redis)' if embedded else ''}")
    for child in children:
        local = child.settings.local_host
        grpc_part = f"gRPC {host_port(local, child.settings.port)}" if child.settings.port else "worker"
        print(
            f"  {child.name:<22} {grpc_part:<22} metrics http://{host_port(local, child.settings.metrics_port)}/metrics"
            f"   log {child.log_file}"
        )
    ports = {child.name: child.settings.port for child in children}
    local = children[0].settings.local_host if children else DEFAULT_BIND_HOST
    if "gateway" in ports:
        http_port = HttpSettings.from_env(environ).port
        print(f"  {'gateway (HTTP/JSON)':<22} http://{host_port(local, http_port)}   (OpenAPI at /openapi.json)")
    bind_host = children[0].settings.host if children else DEFAULT_BIND_HOST
    if not _is_loopback(local):
        print(
            f"\nWARNING: every port listens on {bind_host} (CEREBRO_BIND_HOST), not only on loopback: the gateway"
            " and every metrics endpoint can be reached from other hosts."
        )
    print(f"\nInternal services speak mutual TLS only; the operator's certificate is {operator.cert_file}.\nTry:")
    for name, example in TRY_EXAMPLES.items():
        if name in ports:
            print("  " + example.format(address=host_port(local, ports[name]), tls=_tls_flags(operator)))
    if "gateway" in ports:
        print(f"  curl -s {host_port(local, http_port)}/health")
    if proof_file is not None:
        print(
            f"\nMCP over HTTP, naming each agent's address to the gateway:\n"
            f"  CEREBRO_GATEWAY_TARGET={host_port(local, ports['gateway'])} "
            f"CEREBRO_MCP_FORWARDING_PROOF_FILE={proof_file} cerebro mcp --transport http"
        )
    print("\nPress Ctrl-C to stop.", flush=True)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return host == "localhost"


def start_and_supervise(process_modules: Mapping[str, str], *, data_dir: str | None, startup_timeout: float) -> int:
    """Start, supervise and finally stop every process; returns the exit status."""
    env = Env()
    try:
        root = Path(data_dir).expanduser() if data_dir else env.path("DATA_DIR", default_data_dir())
        assert root is not None
        database_url, redis_url = env.secret("DATABASE_URL"), env.secret("REDIS_URL")
        children = [
            Child(name, module, load_service_settings(name), log_file=root / "logs" / f"{name}.log")
            for name, module in process_modules.items()
        ]
    except ConfigError as error:
        print(f"cerebro up: configuration error: {error}", file=sys.stderr)
        return 2

    previous_handlers = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    stack = EmbeddedStack(root) if database_url is None or redis_url is None else None
    status = 0
    try:
        environ = dict(os.environ, CEREBRO_DATA_DIR=str(root))
        operator = _give_certificates(children, root / "tls")
        proof_file = _give_forwarding_proof(environ, root / "secrets") if "gateway" in process_modules else None
        if stack is not None:
            print(f"Starting embedded PostgreSQL and Redis in {root} ...", flush=True)
            stack.start()
            secrets_dir = root / "secrets"
            if database_url is None:
                environ.pop("CEREBRO_DATABASE_URL", None)
                environ["CEREBRO_DATABASE_URL_FILE"] = str(
                    _write_secret(secrets_dir / "database_url", stack.database_url)
                )
            if redis_url is None:
                environ.pop("CEREBRO_REDIS_URL", None)
                environ["CEREBRO_REDIS_URL_FILE"] = str(_write_secret(secrets_dir / "redis_url", stack.redis_url))
            # The embedded owner is a superuser, which row-level security never applies to: the memory
            # processes work as their least-privilege roles instead.
            environ.update(EMBEDDED_DATABASE_ROLES)
            if database_url is None:
                print("Applying migrations ...", flush=True)
                logins = asyncio.run(_service_logins(stack.database_url, secrets_dir))
                for child in children:
                    child.environ.update(logins.get(child.name, {}))
        for child in children:
            print(f"Starting {child.name} ...", flush=True)
            _spawn(child, environ)
        status = _wait_until_ready(children, startup_timeout)
        if status == 0:
            _print_banner(children, root, stack is not None, environ, operator, proof_file)
            _supervise(children, environ)
    except _StopRequested:
        print("\nStopping ...", flush=True)
    except (EmbeddedServerError, MigrationError) as error:
        print(f"cerebro up: {error}", file=sys.stderr)
        status = 1
    finally:
        for signum in previous_handlers:
            signal.signal(signum, signal.SIG_IGN)
        _stop_children(children, max(c.settings.grace_seconds for c in children) if children else 0)
        if stack is not None:
            stack.stop()
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
        print("Stopped.", flush=True)
    return status


def _wait_until_ready(children: list[Child], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    pending = list(children)
    while pending:
        for child in list(pending):
            assert child.process is not None
            if child.process.poll() is not None:
                print(
                    f"cerebro up: {child.name} exited with status {child.process.returncode} while starting; "
                    f"see {child.log_file}",
                    file=sys.stderr,
                )
                return 1
            if _is_ready(child):
                print(f"  {child.name} is serving", flush=True)
                pending.remove(child)
        if pending and time.monotonic() > deadline:
            names = ", ".join(c.name for c in pending)
            print(f"cerebro up: not serving after {timeout:.0f}s: {names}", file=sys.stderr)
            return 1
        time.sleep(POLL_SECONDS)
    return 0


def _supervise(children: list[Child], environ: Mapping[str, str]) -> None:
    """Restart a process that exits, waiting 1 s, 2 s, 4 s ... up to 30 s between attempts."""
    while True:
        now = time.monotonic()
        for child in children:
            assert child.process is not None
            if child.restart_at and now >= child.restart_at:
                child.restart_at = 0.0
                print(f"Restarting {child.name} (restart {child.restarts})", flush=True)
                _spawn(child, environ)
            elif not child.restart_at and child.process.poll() is not None:
                child.restarts += 1
                delay = min(MAX_RESTART_DELAY_SECONDS, 2.0 ** (child.restarts - 1))
                child.restart_at = now + delay
                print(
                    f"{child.name} exited with status {child.process.returncode}; restarting in {delay:.0f}s "
                    f"(log: {child.log_file})",
                    flush=True,
                )
        time.sleep(POLL_SECONDS)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="where data and logs live (default: $CEREBRO_DATA_DIR or ~/.cerebro)")
    parser.add_argument(
        "--startup-timeout", type=float, default=300.0, help="seconds to wait for every service (default: 300)"
    )


def run(args: argparse.Namespace) -> int:
    return start_and_supervise(PROCESS_MODULES, data_dir=args.data_dir, startup_timeout=args.startup_timeout)


COMMAND = Command(
    help="run every service on this machine (embedded PostgreSQL and Redis unless URLs are set)",
    description=DESCRIPTION,
    arguments=_arguments,
    run=run,
)
