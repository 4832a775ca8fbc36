"""A private certificate authority for the mesh, and one certificate per process with its role inside.

`cerebro up` and the tests use it; deploy/generate-secrets.sh makes the same certificates with openssl
for Docker Compose, and cert-manager for Kubernetes (deploy/kubernetes/base/mesh-certificates.yaml).
What a certificate holds (see :mod:`cerebro.runtime.roles`):

- a service role: the URI SAN ``spiffe://cerebro/<role>`` (what servers check), the DNS SAN
  ``<role>.cerebro.internal`` (what clients check), the given host names (for tools that dial
  ``localhost``), and both server and client use;
- the operator role: the URI SAN only, client use only, so it can never pose as a service.

Keys are ECDSA P-256, written with mode 0600 in a 0700 directory.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cerebro.runtime.config import TlsSettings
from cerebro.runtime.roles import Role, role_dns_name, role_uri

CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
CA_DAYS = 3650
LEAF_DAYS = 365
# A certificate closer than this to its end is issued again by `ensure`.
RENEW_BEFORE = datetime.timedelta(days=30)
DEFAULT_HOSTS = ("localhost", "127.0.0.1")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Atomically: a reader sees the old file or the new one, never half of one."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(staging, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


@dataclass(frozen=True)
class MeshAuthority:
    """The CA of one mesh, kept as ``ca.crt`` and ``ca.key`` in ``directory``, which also receives what it issues."""

    directory: Path
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def ca_file(self) -> Path:
        return self.directory / CA_CERT_FILE

    @classmethod
    def load_or_create(cls, directory: Path, common_name: str = "Cerebro mesh CA") -> MeshAuthority:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)
        cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
        if cert_path.exists() and key_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path} does not hold an EC private key")
            return cls(directory, x509.load_pem_x509_certificate(cert_path.read_bytes()), key)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write(key_path, _key_pem(key), 0o600)
        _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        return cls(directory, certificate, key)

    def issue(
        self, role: Role, name: str | None = None, *, hosts: Sequence[str] = DEFAULT_HOSTS, days: int = LEAF_DAYS
    ) -> TlsSettings:
        """A new certificate and key for ``role`` as ``<name>.crt`` / ``<name>.key`` (name: the role's)."""
        stem = name or role.value
        key = ec.generate_private_key(ec.SECP256R1())
        server = role is not Role.OPERATOR
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(role_uri(role))]
        if server:
            names += [x509.DNSName(role_dns_name(role)), *(_general_name(host) for host in hosts)]
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"cerebro {role.value}")]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.certificate.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = self.directory / f"{stem}.crt", self.directory / f"{stem}.key"
        _write(key_path, _key_pem(key), 0o600)
        _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        return TlsSettings(cert_file=cert_path, key_file=key_path, ca_file=self.ca_file)

    def ensure(self, role: Role, name: str | None = None, *, hosts: Sequence[str] = DEFAULT_HOSTS) -> TlsSettings:
        """The certificate of ``role`` already in the directory, unless it must be issued (again)."""
        stem = name or role.value
        cert_path, key_path = self.directory / f"{stem}.crt", self.directory / f"{stem}.key"
        if cert_path.exists() and key_path.exists() and self._still_good(cert_path, role):
            return TlsSettings(cert_file=cert_path, key_file=key_path, ca_file=self.ca_file)
        return self.issue(role, name, hosts=hosts)

    def _still_good(self, cert_path: Path, role: Role) -> bool:
        """Signed by this CA, for ``role``, and not about to expire."""
        try:
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
            certificate.verify_directly_issued_by(self.certificate)
            names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            return False
        return (
            role_uri(role) in names.get_values_for_type(x509.UniformResourceIdentifier)
            and certificate.not_valid_after_utc - _now() > RENEW_BEFORE
        )
