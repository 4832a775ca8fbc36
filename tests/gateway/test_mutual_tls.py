"""Mutual TLS: a client certificate bound to a namespace is a credential of its own."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cerebro.gateway.v1 import gateway_pb2 as pb
from cerebro.gateway.v1 import gateway_pb2_grpc
from services.gateway.store import keys
from tests.gateway.harness import GatewayServer, bearer, gateway_server, issue_key

SHARE = pb.UpdateSharedEmotionalStateRequest(emotional_vector={"focus": 0.4, "energy": 0.6, "excitement": 0.8})


class Authority:
    """A test CA that signs certificates for DNS names into a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway-test-ca")])
        self.ca_file = directory / "ca.crt"
        self.ca_file.write_bytes(
            self._sign(self._name, self._key.public_key(), ca=True, names=[]).public_bytes(serialization.Encoding.PEM)
        )

    def _sign(
        self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, *, ca: bool, names: list[str]
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
        return builder.sign(self._key, hashes.SHA256())

    def issue(self, name: str) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for DNS name ``name``, also written as <name>.crt / <name>.key."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        certificate = self._sign(subject, key.public_key(), ca=False, names=[name]).public_bytes(
            serialization.Encoding.PEM
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (self.directory / f"{name}.crt").write_bytes(certificate)
        (self.directory / f"{name}.key").write_bytes(key_pem)
        return certificate, key_pem


@pytest.fixture
async def tls_gateway(gateway_database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Authority, GatewayServer]]:
    authority = Authority(tmp_path)
    authority.issue("localhost")
    env = {
        "CEREBRO_TLS_CERT_FILE": str(tmp_path / "localhost.crt"),
        "CEREBRO_TLS_KEY_FILE": str(tmp_path / "localhost.key"),
        "CEREBRO_TLS_CA_FILE": str(authority.ca_file),
    }
    # Emotional sync needs only PostgreSQL, so no TLS memory or consensus service is needed here.
    async with gateway_server(
        gateway_database_url,
        tmp_path / "gateway",
        memory_target="127.0.0.1:9",
        consensus_target="127.0.0.1:9",
        embedder_target="127.0.0.1:9",
        env=env,
    ) as server:
        yield authority, server


def client_stub(
    authority: Authority, target: str, identity: str
) -> tuple[grpc.aio.Channel, gateway_pb2_grpc.AgentGatewayStub]:
    certificate, key = authority.issue(identity)
    credentials = grpc.ssl_channel_credentials(authority.ca_file.read_bytes(), key, certificate)
    channel = grpc.aio.secure_channel(target, credentials, options=[("grpc.ssl_target_name_override", "localhost")])
    return channel, gateway_pb2_grpc.AgentGatewayStub(channel)


async def test_a_bound_client_certificate_authenticates(
    tls_gateway: tuple[Authority, GatewayServer], gateway_database_url: str
) -> None:
    authority, server = tls_gateway
    namespace = f"aria-{uuid.uuid4().hex[:6]}"
    connection = await asyncpg.connect(gateway_database_url)
    try:
        await keys.bind_certificate(connection, "aria.agents.local", namespace, instance_name="ARIA")
    finally:
        await connection.close()

    channel, stub = client_stub(authority, server.target, "aria.agents.local")
    try:
        shared = await stub.UpdateSharedEmotionalState(SHARE)
        assert [member.namespace for member in shared.state.members] == [namespace]
        # A bearer key sent over the same connection takes precedence over the certificate.
        other = await issue_key(gateway_database_url, f"nexus-{uuid.uuid4().hex[:6]}")
        shared = await stub.UpdateSharedEmotionalState(SHARE, metadata=bearer(other.token))
        assert {member.namespace for member in shared.state.members} == {namespace, other.namespace}
    finally:
        await channel.close()

    channel, stub = client_stub(authority, server.target, "unbound.agents.local")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateSharedEmotionalState(SHARE)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "unbound.agents.local" in (caught.value.details() or "")
    finally:
        await channel.close()
