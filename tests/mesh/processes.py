"""One Cerebro process of the mesh (`python -m cerebro serve <process>`), started, killed and restarted by a test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cerebro.healthcheck import is_serving
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.roles import Role
from services.cli.serve import SUPERVISOR_PID_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
STOP_SECONDS = 15.0


@dataclass
class MeshProcess:
    """``process`` run with ``environ``, inside ``prefix`` (an `ip netns exec` command) or in the root namespace.

    ``ready_target`` is the gRPC ``host:port`` that reports SERVING once ready (asked with ``ready_tls``,
    the operator's certificate, unless it serves plaintext), or else ``ready_url``, a metrics endpoint
    that answers once a worker is up.
    """

    label: str
    process: str
    environ: dict[str, str]
    log_file: Path
    prefix: list[str] = field(default_factory=list)
    ready_target: str | None = None
    ready_url: str | None = None
    ready_tls: TlsSettings | None = None
    popen: subprocess.Popen[bytes] | None = None
    # Every pid this process ever had, so the test can prove none of them outlives it.
    pids: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.popen = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "cerebro", "serve", self.process],
                cwd=ROOT,
                # If pytest itself is killed, the kernel terminates the mesh's processes too.
                env={**self.environ, SUPERVISOR_PID_VARIABLE: str(os.getpid())},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.pids.append(self.popen.pid)

    def is_ready(self) -> bool:
        if self.popen is None or self.popen.poll() is not None:
            return False
        if self.ready_target is not None:
            return is_serving(self.ready_target, timeout=1, tls=self.ready_tls, server_role=Role(self.process))
        assert self.ready_url is not None
        try:
            with urllib.request.urlopen(self.ready_url, timeout=1):
                return True
        except OSError:
            return False

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if self.popen is not None and self.popen.poll() is not None:
                raise AssertionError(f"{self.label} exited with {self.popen.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.label} not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to flush, deregister or finish anything."""
        assert self.popen is not None
        self.popen.kill()
        self.popen.wait(STOP_SECONDS)

    def stop(self) -> None:
        """SIGTERM (graceful shutdown), SIGKILL if it does not finish in time."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(STOP_SECONDS)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def alive_pids(pids: list[int]) -> list[int]:
    """The pids of ``pids`` that still run (a zombie not yet reaped counts as gone)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state not in ("Z", "X"):
            alive.append(pid)
    return alive


def clean_environ(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any CEREBRO_* setting, plus ``extra``."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CEREBRO_")}
    environ.update(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", **extra)
    return environ
