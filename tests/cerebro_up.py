"""A `cerebro up` as a user starts it (a subprocess with the embedded PostgreSQL and Redis) for end-to-end tests:
free ports for every process, waiting for its banner, its child processes, Ctrl-C, the operator's channels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

from cerebro.runtime.config import DEFAULT_PORTS
from cerebro.runtime.roles import Role, role_dns_name
from services.cli.serve import PROCESS_MODULES
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 300
# Short leases, so a killed process is seen going standby and offline within seconds.
SHORT_LEASES = {"CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": "2", "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": "4"}


def free_port_environ() -> dict[str, str]:
    """Free ports for every process, so the test never collides with a `cerebro up` already running."""
    environ: dict[str, str] = {}
    for name in PROCESS_MODULES:
        key = name.upper().replace("-", "_")
        grpc_port, _ = DEFAULT_PORTS[name]
        if grpc_port is not None:
            environ[f"CEREBRO_{key}_PORT"] = str(free_port())
            environ[f"CEREBRO_{key}_TARGET"] = f"127.0.0.1:{environ[f'CEREBRO_{key}_PORT']}"
        environ[f"CEREBRO_{key}_METRICS_PORT"] = str(free_port())
    environ["CEREBRO_GATEWAY_HTTP_PORT"] = str(free_port())
    return environ


class RunningUp:
    def __init__(self, data_dir: Path, ports: dict[str, str], leases: Mapping[str, str] = SHORT_LEASES) -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CEREBRO_")}
        environ.update(ports, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", **leases)
        self.ports = ports
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cerebro", "up", "--data-dir", str(data_dir)],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        assert self.process.stdout is not None
        # Up to the banner's last line: lines left in this file's buffer would be missed by communicate().
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith("Press Ctrl-C to stop."):
                return
            if time.monotonic() > deadline:
                break
        raise AssertionError("cerebro up did not come up:\n" + "".join(self.output))

    def descendants(self) -> set[int]:
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, todo = set(), [self.process.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.add(child)
                todo.append(child)
        return found

    def child_pid(self, process: str) -> int:
        for pid in self.descendants():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[-3:-1] == [b"serve", process.encode()]:
                return pid
        raise AssertionError(f"no {process} process under cerebro up")

    def interrupt(self) -> str:
        self.process.send_signal(signal.SIGINT)
        rest, _ = self.process.communicate(timeout=120)
        self.output.append(rest)
        return "".join(self.output)


def operator_channel(data_dir: Path, port: str, role: Role) -> grpc.Channel:
    """A channel to ``role``'s internal service under `cerebro up`, with the operator's certificate."""
    tls = data_dir / "tls"
    credentials = grpc.ssl_channel_credentials(
        (tls / "ca.crt").read_bytes(), (tls / "operator.key").read_bytes(), (tls / "operator.crt").read_bytes()
    )
    options = [("grpc.ssl_target_name_override", role_dns_name(role))]
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=options)


@dataclass(frozen=True)
class SharedUp:
    """A running `cerebro up` shared by several tests: its data directory and its processes' ports."""

    data_dir: Path
    ports: dict[str, str]
