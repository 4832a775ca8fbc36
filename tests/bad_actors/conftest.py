"""One `cerebro up` for the whole bad-actors suite, attacked as issue #12's report did: from outside the
gateway, with no certificate, someone else's certificate, self-signed keys nobody enrolled, and inputs
meant to break the services. Tests keep apart by using namespaces of their own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
import pytest

from cerebro.consensus.client import Enrollment
from cerebro.gateway.v1 import gateway_pb2_grpc
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.roles import Role, role_dns_name
from services.gateway.store import keys
from tests.cerebro_up import ROOT, SharedUp


@dataclass(frozen=True)
class Up:
    """A running `cerebro up`: its ports, data directory, and what its operator can do."""

    data_dir: Path
    ports: dict[str, str]
    scratch: Path
    # Names this package enrolled: revoked when it ends, so the shared `cerebro up`'s electorate is as found.
    enrolled: set[str] = field(default_factory=set)

    def port(self, process: str) -> str:
        return self.ports[f"CEREBRO_{process.upper().replace('-', '_')}_PORT"]

    @property
    def gateway_target(self) -> str:
        return self.ports["CEREBRO_GATEWAY_TARGET"]

    @property
    def database_url(self) -> str:
        return (self.data_dir / "secrets" / "database_url").read_text()

    def certificate(self, role: Role) -> TlsSettings:
        """The certificate `cerebro up` gave ``role`` (a stolen one, when a test attacks with it)."""
        tls = self.data_dir / "tls"
        return TlsSettings(tls / f"{role.value}.crt", tls / f"{role.value}.key", tls / "ca.crt")

    def channel(self, service: Role, as_role: Role | None, *, host: str = "127.0.0.1") -> grpc.Channel:
        """A channel to ``service``'s port: with ``as_role``'s certificate, or plaintext (None)."""
        target = f"{host}:{self.port(service.value)}"
        if as_role is None:
            return grpc.insecure_channel(target)
        tls = self.certificate(as_role)
        assert tls.ca_file is not None
        credentials = grpc.ssl_channel_credentials(
            tls.ca_file.read_bytes(), tls.key_file.read_bytes(), tls.cert_file.read_bytes()
        )
        return grpc.secure_channel(
            target, credentials, options=[("grpc.ssl_target_name_override", role_dns_name(service))]
        )

    def cerebro(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A `cerebro` command as the operator runs it beside `cerebro up` (admin commands use the database)."""
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CEREBRO_")}
        environ.update(
            CEREBRO_DATABASE_URL_FILE=str(self.data_dir / "secrets" / "database_url"),
            CEREBRO_GATEWAY_TARGET=self.gateway_target,
        )
        done = subprocess.run(
            [sys.executable, "-m", "cerebro", *argv], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
        )
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def issue_key(self, namespace: str, instance: str) -> str:
        token_file = self.scratch / f"{namespace}.key"
        self.cerebro("keys", "issue", namespace, "--instance", instance, "--token-file", str(token_file))
        return token_file.read_text().strip()

    def enroll(self, name: str, key_file: Path, *, voting: bool = True) -> None:
        """The README's enrolment: the agent's public key, handed to the operator, who enrols it."""
        public_key = key_file.with_suffix(".pub")
        public_key.write_text(self.cerebro("instances", "public-key", "--key-file", str(key_file)).stdout)
        self.cerebro("instances", "enroll", name, "--public-key", str(public_key), *(["--voting"] if voting else []))
        self.enrolled.add(name)

    def revoke_enrolled(self) -> None:
        active = {enrollment.instance_name for enrollment in self.enrollments() if enrollment.revoke_time is None}
        for name in sorted(self.enrolled & active):
            self.cerebro("instances", "revoke", name)

    def enrollments(self) -> list[Enrollment]:
        listed = self.cerebro("instances", "enrolled", "--all", "--json").stdout
        return [Enrollment.from_json(item) for item in json.loads(listed)]


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
        """A channel to ``process``'s gRPC port on ``host``, as the operator's tools open one: plaintext to
        the gateway, with the operator's certificate to an internal service.

        Every direct call of the suite to an internal service goes through here."""
        target = f"{host}:{self.grpc_port(process)}"
        if process == "gateway":
            return grpc.aio.insecure_channel(target)
        tls = self.data_dir / "tls"
        credentials = grpc.ssl_channel_credentials(
            (tls / "ca.crt").read_bytes(), (tls / "operator.key").read_bytes(), (tls / "operator.crt").read_bytes()
        )
        return grpc.aio.secure_channel(
            target, credentials, options=[("grpc.ssl_target_name_override", role_dns_name(Role(process)))]
        )

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


@pytest.fixture(scope="package")
def up(cerebro_up: SharedUp) -> Iterator[Up]:
    # Not pytest's tmp_path: it is per test, and these keys serve the whole package.
    scratch = Path(tempfile.mkdtemp(prefix="cerebro-bad-actors-keys-"))
    up = Up(cerebro_up.data_dir, cerebro_up.ports, scratch)
    try:
        yield up
    finally:
        up.revoke_enrolled()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="package")
def up_mesh(up: Up) -> UpMesh:
    """The same `cerebro up`, seen as the inputs-and-limits scenarios use it."""
    return UpMesh(up.data_dir, up.ports)


@pytest.fixture
async def gateway(up_mesh: UpMesh) -> AsyncIterator[gateway_pb2_grpc.AgentGatewayStub]:
    async with up_mesh.channel("gateway") as channel:
        yield gateway_pb2_grpc.AgentGatewayStub(channel)


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses."""
    return f"agent-{uuid.uuid4().hex[:10]}"
