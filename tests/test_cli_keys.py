"""`cerebro keys grant|revoke-grant|grants|bind-cert|unbind-cert|certs` against `cerebro up`, as an operator runs them.

Grants are checked through the shared `cerebro up`'s gateway. That gateway serves agents plaintext (loopback
is its boundary), so certificate identities are checked on a second gateway replica beside it, on the same
mesh and database, serving mutual TLS with the mesh's CA as docs/deploy.md describes ("To serve agents TLS
itself ..."); the agent's certificate is signed by that CA for an identity of the test's own.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import gateway_pb2_grpc
from cerebro.healthcheck import is_serving
from cerebro.memory.v1 import episodes_pb2
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.mesh_ca import MeshAuthority
from cerebro.runtime.roles import Role, role_dns_name
from tests.cerebro_up import ROOT, SharedUp
from tests.support import free_port

pytestmark = pytest.mark.e2e

STARTUP_SECONDS = 120


@dataclass(frozen=True)
class Operator:
    """The operator's side of the shared `cerebro up`: `cerebro keys` with its database, and its gateway."""

    up: SharedUp
    scratch: Path

    def keys(self, *argv: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CEREBRO_")}
        environ["CEREBRO_DATABASE_URL_FILE"] = str(self.up.data_dir / "secrets" / "database_url")
        return subprocess.run(
            [sys.executable, "-m", "cerebro", "keys", *argv],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def keys_json(self, *argv: str) -> Any:
        done = self.keys("--json", *argv)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    def issue(self, namespace: str) -> tuple[tuple[str, str], ...]:
        token_file = self.scratch / f"{namespace}.key"
        done = self.keys("issue", namespace, "--token-file", str(token_file))
        assert done.returncode == 0, done.stdout + done.stderr
        return (("authorization", f"Bearer {token_file.read_text().strip()}"),)

    @property
    def gateway_target(self) -> str:
        return self.up.ports["CEREBRO_GATEWAY_TARGET"]


@pytest.fixture(scope="module")
def operator(cerebro_up: SharedUp) -> Iterator[Operator]:
    with tempfile.TemporaryDirectory(prefix="cerebro-keys-test-") as scratch:
        yield Operator(cerebro_up, Path(scratch))


@pytest.fixture
def gateway(operator: Operator) -> Iterator[gateway_pb2_grpc.AgentGatewayStub]:
    with grpc.insecure_channel(operator.gateway_target) as channel:
        yield gateway_pb2_grpc.AgentGatewayStub(channel)


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    return grpc.StatusCode.OK


def eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_grant_lets_another_namespace_recall_and_revoking_it_stops_that(
    operator: Operator, gateway: gateway_pb2_grpc.AgentGatewayStub
) -> None:
    suffix = uuid.uuid4().hex[:8]
    owner, reader = f"nexus-{suffix}", f"aria-{suffix}"
    owner_key, reader_key = operator.issue(owner), operator.issue(reader)
    gateway.Remember(pb.RememberRequest(content=f"the {suffix} migration plan"), metadata=owner_key, timeout=60)
    recall = pb.RecallRequest(query=f"{suffix} migration", namespace=owner, mode=episodes_pb2.SEARCH_MODE_TEXT)

    def readers_recall() -> grpc.StatusCode:
        return code_of(lambda: gateway.Recall(recall, metadata=reader_key, timeout=60))

    assert readers_recall() == grpc.StatusCode.PERMISSION_DENIED

    assert operator.keys_json("grant", owner, "--to", reader) == {
        "owner_namespace": owner,
        "grantee_namespace": reader,
        "granted": True,
    }
    hits = gateway.Recall(recall, metadata=reader_key, timeout=60).hits
    assert [hit.episode.content for hit in hits] == [f"the {suffix} migration plan"]
    # One-way: the owner still cannot read the reader's namespace.
    assert (
        code_of(lambda: gateway.Recall(pb.RecallRequest(query="x", namespace=reader), metadata=owner_key, timeout=60))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    listed = operator.keys_json("grants", "--namespace", reader)
    assert [(g["owner_namespace"], g["grantee_namespace"]) for g in listed] == [(owner, reader)]
    people = operator.keys("grants", "--namespace", owner)
    assert people.returncode == 0 and owner in people.stdout and reader in people.stdout

    again = operator.keys("grant", owner, "--to", reader)
    assert again.returncode == 1
    assert f"{reader} may already read {owner}'s memories" in again.stderr

    revoked = operator.keys("revoke-grant", owner, "--from", reader)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"{reader} may no longer read {owner}'s memories"
    eventually(lambda: readers_recall() == grpc.StatusCode.PERMISSION_DENIED, "the revoked grant still reads")
    assert operator.keys_json("grants", "--namespace", reader) == []
    twice = operator.keys("revoke-grant", owner, "--from", reader)
    assert twice.returncode == 1
    assert f"no grant lets {reader} read {owner}'s memories" in twice.stderr


def test_a_grant_is_refused_for_unknown_bad_or_identical_namespaces(operator: Operator) -> None:
    known = f"nexus-{uuid.uuid4().hex[:8]}"
    operator.issue(known)
    unknown = f"ghost-{uuid.uuid4().hex[:8]}"
    refused = {
        (known, unknown): f"unknown namespace {unknown!r}",
        (unknown, known): f"unknown namespace {unknown!r}",
        (known, "Not A Namespace"): "grantee namespace 'Not A Namespace'",
        (known, known): "a namespace can always read itself",
    }
    for (owner, grantee), message in refused.items():
        done = operator.keys("grant", owner, "--to", grantee)
        assert done.returncode == 2, (owner, grantee, done.stdout, done.stderr)
        assert message in done.stderr
        assert done.stderr.startswith("cerebro keys: ") and "Traceback" not in done.stderr
    # Nothing was granted by the refusals.
    assert operator.keys_json("grants", "--namespace", known) == []
    missing = operator.keys("grant", known)
    assert missing.returncode == 2 and "--to" in missing.stderr


@dataclass(frozen=True)
class TlsGateway:
    target: str
    ca_file: Path


@pytest.fixture(scope="module")
def tls_gateway(operator: Operator) -> Iterator[TlsGateway]:
    """A second gateway replica of the shared `cerebro up`, serving agents mutual TLS with the mesh CA."""
    data_dir, tls = operator.up.data_dir, operator.up.data_dir / "tls"
    ports = operator.up.ports
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CEREBRO_")}
    environ.update(
        CEREBRO_DATABASE_URL_FILE=str(data_dir / "secrets" / "database_url_gateway"),
        CEREBRO_GATEWAY_APPLY_MIGRATIONS="false",
        CEREBRO_MEMORY_TARGET=ports["CEREBRO_MEMORY_TARGET"],
        CEREBRO_CONSENSUS_TARGET=ports["CEREBRO_CONSENSUS_TARGET"],
        CEREBRO_EMBEDDER_TARGET=ports["CEREBRO_EMBEDDER_TARGET"],
        CEREBRO_GATEWAY_PORT=str(port),
        CEREBRO_GATEWAY_METRICS_PORT=str(free_port()),
        CEREBRO_GATEWAY_HTTP_PORT=str(free_port()),
        CEREBRO_TLS_CERT_FILE=str(tls / "gateway.crt"),
        CEREBRO_TLS_KEY_FILE=str(tls / "gateway.key"),
        CEREBRO_TLS_CA_FILE=str(tls / "ca.crt"),
        CEREBRO_GATEWAY_SERVE_TLS="true",
        CEREBRO_REGISTER="false",
        CEREBRO_DATA_DIR=str(operator.scratch / "tls-gateway"),
        HF_HUB_OFFLINE="1",
    )
    log_path = operator.scratch / "tls-gateway.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cerebro", "serve", "gateway"],
            cwd=ROOT,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    target = f"127.0.0.1:{port}"
    operator_tls = TlsSettings(tls / "operator.crt", tls / "operator.key", tls / "ca.crt")
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not is_serving(target, tls=operator_tls, server_role=Role.GATEWAY):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.5)
        yield TlsGateway(target, tls / "ca.crt")
    finally:
        process.terminate()
        process.wait(timeout=60)


def agent_certificate(mesh_tls: Path, identity: str) -> tuple[bytes, bytes]:
    """(certificate, key) PEM for a client whose certificate names ``identity``, signed by the mesh CA."""
    authority = MeshAuthority.load_or_create(mesh_tls)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(identity)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(authority.key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def test_a_bound_certificate_authenticates_over_mutual_tls_and_unbinding_refuses_it(
    operator: Operator, tls_gateway: TlsGateway
) -> None:
    suffix = uuid.uuid4().hex[:8]
    namespace, identity = f"aria-{suffix}", f"aria-{suffix}.agents.test"
    certificate, key = agent_certificate(operator.up.data_dir / "tls", identity)
    credentials = grpc.ssl_channel_credentials(tls_gateway.ca_file.read_bytes(), key, certificate)
    options = [("grpc.ssl_target_name_override", role_dns_name(Role.GATEWAY))]
    with grpc.secure_channel(tls_gateway.target, credentials, options=options) as channel:
        stub = gateway_pb2_grpc.AgentGatewayStub(channel)

        def stats() -> pb.GetStatsResponse:
            return stub.GetStats(pb.GetStatsRequest(), timeout=60)

        # A certificate of the right CA is not enough: its identity must be bound.
        assert code_of(stats) == grpc.StatusCode.UNAUTHENTICATED

        bound = operator.keys_json("bind-cert", identity, namespace, "--instance", f"ARIA-{suffix}", "--label", "e2e")
        assert {k: bound[k] for k in ("identity", "namespace", "scope", "instance_name", "revoked_at")} == {
            "identity": identity,
            "namespace": namespace,
            "scope": "read-write",
            "instance_name": f"ARIA-{suffix}",
            "revoked_at": None,
        }
        eventually(lambda: code_of(stats) == grpc.StatusCode.OK, "the bound certificate was never accepted")
        # No API key anywhere: the certificate is the credential, and its namespace is the binding's.
        stub.Remember(pb.RememberRequest(content="remembered with a certificate"), timeout=60)
        assert stats().namespace == namespace
        assert stats().memory.episodes_total == 1

        rebound = operator.keys("bind-cert", identity, f"nexus-{suffix}")
        assert rebound.returncode == 2
        assert f"certificate identity {identity!r} is already bound; unbind it first" in rebound.stderr
        listed = operator.keys_json("certs")
        assert [b["namespace"] for b in listed if b["identity"] == identity] == [namespace]

        unbound = operator.keys("unbind-cert", identity)
        assert unbound.returncode == 0, unbound.stderr
        assert unbound.stdout.strip() == f"unbound {identity}"
        eventually(lambda: code_of(stats) == grpc.StatusCode.UNAUTHENTICATED, "the unbound certificate still works")
        assert identity not in {b["identity"] for b in operator.keys_json("certs")}
        history = [b for b in operator.keys_json("certs", "--all") if b["identity"] == identity]
        assert len(history) == 1 and history[0]["revoked_at"] is not None
        again = operator.keys("unbind-cert", identity)
        assert again.returncode == 1
        assert f"no bound certificate identity {identity}" in again.stderr
