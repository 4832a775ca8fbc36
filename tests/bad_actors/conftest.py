"""One `cerebro up` for the bad-actor scenarios, attacked as issue #12's report did: from outside the
gateway, with no certificate, someone else's certificate, or self-signed keys nobody enrolled."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from cerebro.consensus.client import Enrollment
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.roles import Role, role_dns_name
from tests.test_cerebro_up import ROOT, RunningUp, _port_environ

# Long leases: the agents of these scenarios register once and must stay electors while they run.
LEASES = {"CEREBRO_CONSENSUS_LEASE_TTL_SECONDS": "300", "CEREBRO_CONSENSUS_OFFLINE_AFTER_SECONDS": "600"}


@dataclass(frozen=True)
class Up:
    """A running `cerebro up`: its ports, data directory, and what its operator can do."""

    data_dir: Path
    ports: dict[str, str]
    scratch: Path

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

    def enrollments(self) -> list[Enrollment]:
        listed = self.cerebro("instances", "enrolled", "--all", "--json").stdout
        return [Enrollment.from_json(item) for item in json.loads(listed)]


@pytest.fixture(scope="package")
def up() -> Iterator[Up]:
    # Not pytest's tmp_path: PostgreSQL runs as another account and must reach its data (tests/conftest.py).
    data_dir = Path(tempfile.mkdtemp(prefix="cerebro-bad-actors-"))
    scratch = Path(tempfile.mkdtemp(prefix="cerebro-bad-actors-keys-"))
    ports = _port_environ()
    running = RunningUp(data_dir, ports, leases=LEASES)
    try:
        running.wait_until_up()
        yield Up(data_dir, ports, scratch)
    finally:
        output = running.interrupt()
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    assert running.process.returncode == 0, output
