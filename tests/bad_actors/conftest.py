"""One `cerebro up` for the whole bad-actors suite, attacked the way an outsider or a rogue agent would.

The mesh runs as a user starts it (a subprocess, the embedded PostgreSQL and Redis, default settings)
on free ports, so it never collides with another `cerebro up` on the machine. Tests keep apart by
using namespaces of their own.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import pytest

from cerebro.gateway.v1 import gateway_pb2_grpc
from cerebro.runtime.config import DEFAULT_PORTS
from services.gateway import keys
from tests.support import free_port
from tests.test_cerebro_up import RunningUp


@dataclass(frozen=True)
class UpMesh:
    """A running `cerebro up`: where each process listens, and the owner's database URL."""

    data_dir: Path
    environ: dict[str, str]

    def grpc_port(self, process: str) -> int:
        return int(self.environ[f"CEREBRO_{process.upper()}_PORT"])

    def metrics_port(self, process: str) -> int:
        return int(self.environ[f"CEREBRO_{process.upper().replace('-', '_')}_METRICS_PORT"])

    @property
    def http_port(self) -> int:
        return int(self.environ["CEREBRO_GATEWAY_HTTP_PORT"])

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def channel(self, process: str, host: str = "127.0.0.1") -> grpc.aio.Channel:
        """A channel to ``process``'s gRPC port on ``host``, as a process of this machine opens one.

        Every direct call of the suite to an internal service goes through here."""
        return grpc.aio.insecure_channel(f"{host}:{self.grpc_port(process)}")

    @property
    def owner_url(self) -> str:
        """The embedded database's owner (what `cerebro keys` and other operator tools use)."""
        return (self.data_dir / "secrets" / "database_url").read_text(encoding="utf-8")

    async def issue_key(self, namespace: str) -> str:
        connection = await asyncpg.connect(self.owner_url)
        try:
            return (await keys.issue_key(connection, namespace)).token
        finally:
            await connection.close()

    async def grant_read(self, owner: str, grantee: str) -> None:
        connection = await asyncpg.connect(self.owner_url)
        try:
            await keys.grant_read(connection, owner, grantee)
        finally:
            await connection.close()


def _free_port_environ() -> dict[str, str]:
    environ: dict[str, str] = {}
    for process, (grpc_port, _) in DEFAULT_PORTS.items():
        key = process.upper().replace("-", "_")
        if grpc_port is not None:
            environ[f"CEREBRO_{key}_PORT"] = str(free_port())
            environ[f"CEREBRO_{key}_TARGET"] = f"127.0.0.1:{environ[f'CEREBRO_{key}_PORT']}"
        environ[f"CEREBRO_{key}_METRICS_PORT"] = str(free_port())
    environ["CEREBRO_GATEWAY_HTTP_PORT"] = str(free_port())
    return environ


@pytest.fixture(scope="session")
def up_mesh() -> Iterator[UpMesh]:
    # mkdtemp rather than tmp_path: as root, PostgreSQL runs as another account that must reach it.
    data_dir = Path(tempfile.mkdtemp(prefix="cerebro-bad-actors-"))
    environ = _free_port_environ()
    running = RunningUp(data_dir, environ, leases={})
    try:
        running.wait_until_up()
        yield UpMesh(data_dir, environ)
    finally:
        output = running.interrupt()
        shutil.rmtree(data_dir, ignore_errors=True)
        assert running.process.returncode == 0, output


@pytest.fixture
async def gateway(up_mesh: UpMesh) -> AsyncIterator[gateway_pb2_grpc.AgentGatewayStub]:
    async with up_mesh.channel("gateway") as channel:
        yield gateway_pb2_grpc.AgentGatewayStub(channel)


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses."""
    return f"agent-{uuid.uuid4().hex[:10]}"
