"""TLS and mutual TLS from certificate files, through the real server bootstrap and channel factory."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cerebro.runtime.channels import open_channel
from cerebro.runtime.config import TlsSettings
from cerebro.runtime.server import ServiceHost
from tests.support import loopback_settings, running_host

Key = ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key: Key, issuer: str, issuer_key: Key, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.DNSName(subject)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pair(directory: Path, name: str, certificate: x509.Certificate, key: Key) -> tuple[Path, Path]:
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, TlsSettings]:
    """A CA, a server certificate and a client certificate it signed, and a client signed by another CA."""
    ca_key, rogue_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("cerebro-test-ca", ca_key, "cerebro-test-ca", ca_key, ca=True)
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pairs = {}
    for name, issuer_key in (("server", ca_key), ("client", ca_key), ("rogue", rogue_key)):
        key = ec.generate_private_key(ec.SECP256R1())
        issuer = "rogue-ca" if name == "rogue" else "cerebro-test-ca"
        pairs[name] = _write_pair(tmp_path, name, _certificate(name, key, issuer, issuer_key, ca=False), key)
    return {name: TlsSettings(cert_file=c, key_file=k, ca_file=ca_file) for name, (c, k) in pairs.items()}


@contextlib.asynccontextmanager
async def tls_server(tmp_path: Path, tls: TlsSettings) -> AsyncIterator[str]:
    extra = {
        "CEREBRO_TLS_CERT_FILE": str(tls.cert_file),
        "CEREBRO_TLS_KEY_FILE": str(tls.key_file),
        **({"CEREBRO_TLS_CA_FILE": str(tls.ca_file)} if tls.ca_file else {}),
    }

    @contextlib.asynccontextmanager
    async def lifespan(host: ServiceHost) -> AsyncIterator[None]:
        yield

    async with running_host(loopback_settings("embedder", tmp_path, extra), lifespan) as host:
        yield f"localhost:{host.bound_port}"


async def _check(target: str, tls: TlsSettings | None) -> int:
    async with open_channel(target, tls, max_attempts=1, timeout_seconds=5) as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    return response.status


async def test_mutual_tls_accepts_a_client_of_the_same_ca(tmp_path: Path, pki: dict[str, TlsSettings]) -> None:
    async with tls_server(tmp_path, pki["server"]) as target:
        assert await _check(target, pki["client"]) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("client", ["rogue", None])
async def test_mutual_tls_refuses_other_clients(
    tmp_path: Path, pki: dict[str, TlsSettings], client: str | None
) -> None:
    async with tls_server(tmp_path, pki["server"]) as target:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _check(target, pki[client] if client else None)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_server_only_tls_serves_any_client_that_trusts_it(tmp_path: Path, pki: dict[str, TlsSettings]) -> None:
    server = TlsSettings(cert_file=pki["server"].cert_file, key_file=pki["server"].key_file)
    async with tls_server(tmp_path, server) as target:
        # The rogue client presents a certificate the server does not ask about, but trusts our CA.
        rogue_trusting_ca = TlsSettings(pki["rogue"].cert_file, pki["rogue"].key_file, pki["client"].ca_file)
        assert await _check(target, rogue_trusting_ca) == health_pb2.HealthCheckResponse.SERVING


async def _probe(target: str, *arguments: str, tls: TlsSettings | None) -> int:
    """`python -m cerebro.healthcheck` as a container runs it: with the process's CEREBRO_TLS_* settings."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CEREBRO_")}
    if tls is not None:
        environ.update(
            CEREBRO_TLS_CERT_FILE=str(tls.cert_file),
            CEREBRO_TLS_KEY_FILE=str(tls.key_file),
            CEREBRO_TLS_CA_FILE=str(tls.ca_file),
        )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cerebro.healthcheck", *arguments, target, env=environ, stderr=asyncio.subprocess.PIPE
    )
    await process.communicate()
    assert process.returncode is not None
    return process.returncode


async def test_the_health_probe_speaks_the_containers_own_tls(tmp_path: Path, pki: dict[str, TlsSettings]) -> None:
    async with tls_server(tmp_path, pki["server"]) as target:
        assert await _probe(target, tls=pki["client"]) == 0
        assert await _probe(target, tls=None) == 1
        assert await _probe(target, "--plaintext", tls=pki["client"]) == 1


async def test_the_health_probe_talks_plaintext_when_told(tmp_path: Path, pki: dict[str, TlsSettings]) -> None:
    @contextlib.asynccontextmanager
    async def lifespan(host: ServiceHost) -> AsyncIterator[None]:
        yield

    async with running_host(loopback_settings("embedder", tmp_path), lifespan) as host:
        target = f"localhost:{host.bound_port}"
        # The gateway's agent port: plaintext, although the container holds a certificate.
        assert await _probe(target, "--plaintext", tls=pki["client"]) == 0
        assert await _probe(target, tls=pki["client"]) == 1
